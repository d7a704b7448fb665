"""The registry and the money it routes: PIs, projects and funds (:mod:`.records`), fund
splits (:mod:`.splits`), adjustments (:mod:`.adjustments`), the allocation of a period's
charges to funds that statements and journals consume (:mod:`.allocation`), and budgets
with their alerts (:mod:`.budgets`).
"""

from openchargeback.services.registry.adjustments import (
    AdjustmentInfo,
    add_adjustment,
    list_adjustments,
    load_adjustments,
)
from openchargeback.services.registry.allocation import (
    Allocation,
    AllocationLine,
    allocate,
    allocate_in,
    build_lines,
)
from openchargeback.services.registry.budgets import (
    BudgetAlert,
    BudgetStatus,
    budget_status,
    check_alerts,
    check_and_send,
    fiscal_start,
    list_alerts,
)
from openchargeback.services.registry.records import (
    ImportReport,
    add_record,
    billing_contacts,
    edit_record,
    export_csv,
    get_record,
    import_bytes,
    import_csv,
    list_records,
    snapshot,
)
from openchargeback.services.registry.splits import (
    SplitChange,
    SplitInfo,
    list_splits,
    load_splits,
    parse_share,
    set_split,
)

__all__ = [
    "AdjustmentInfo",
    "Allocation",
    "AllocationLine",
    "BudgetAlert",
    "BudgetStatus",
    "ImportReport",
    "SplitChange",
    "SplitInfo",
    "add_adjustment",
    "add_record",
    "allocate",
    "allocate_in",
    "billing_contacts",
    "budget_status",
    "build_lines",
    "check_alerts",
    "check_and_send",
    "edit_record",
    "export_csv",
    "fiscal_start",
    "get_record",
    "import_bytes",
    "import_csv",
    "list_adjustments",
    "list_alerts",
    "list_records",
    "list_splits",
    "load_adjustments",
    "load_splits",
    "parse_share",
    "set_split",
    "snapshot",
]
