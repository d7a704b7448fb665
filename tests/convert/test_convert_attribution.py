"""Attribution maps: YAML and CSV forms, lookups, problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from openchargeback.convert.attribution import AttributionMap, load_attribution
from openchargeback.domain.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "attribution"


def test_yaml_and_csv_examples_say_the_same():
    a = load_attribution(SAMPLES / "attribution.example.yaml")
    b = load_attribution(SAMPLES / "attribution.example.csv")
    assert a.sections == b.sections


def test_lookups_and_longest_path_prefix():
    a = load_attribution(SAMPLES / "attribution.example.yaml")
    assert dict(a.lookup("account", "genomics"))["project_id"] == "GEN-42"
    assert dict(a.lookup("path", "/proj/climate/runs/2026/"))["project_id"] == "CLIM-7"
    assert a.lookup("path", "/proj") is None and a.lookup("account", None) is None
    r = a.resolve(("account", "physics"), ("user", "bob"))
    assert r.project == "PHYS-3" and r.matched == "user bob"
    r = a.resolve(("account", "nobody"), ("user", "eve"))
    assert r.entry == () and r.missing == "account nobody"
    assert AttributionMap().resolve(("path", "/x")).missing == "path /x"


def test_problems_are_named(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("acounts: {}\naccounts:\n  g: {pi: x}\n")
    with pytest.raises(InvalidInput) as e:
        load_attribution(y)
    assert "unknown section 'acounts'" in str(e.value)
    assert "accounts.g: unknown field 'pi'" in str(e.value)
    c = tmp_path / "a.csv"
    c.write_text("kind,key,project_id\naccount,g,P\nteam,t,P\naccount,g,Q\n")
    with pytest.raises(InvalidInput) as e:
        load_attribution(c)
    assert "a.csv:3: kind 'team' is not one of account, user, project, path" in str(e.value)
    assert "a.csv:4: account 'g' is given twice" in str(e.value)
    c.write_text("name,project_id\n")
    with pytest.raises(InvalidInput, match="needs kind and key"):
        load_attribution(c)
    with pytest.raises(InvalidInput, match="no such file"):
        load_attribution(tmp_path / "missing.yaml")
