"""Charts drawn on the server as SVG: titled, with axes, gridlines and labels.

Colours are CSS classes (series-0 ... series-7), so both themes restyle them and no
inline style is needed (the CSP forbids it)."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup, escape

from openchargeback.web.templating import compact

SERIES = 8


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def stacked_bars(
    title: str,
    labels: list[str],
    series: list[tuple[str, list[Decimal]]],
    currency: str,
    *,
    width: int = 620,
    height: int = 320,
    max_series: int = 6,
) -> Markup:
    """Stacked columns, one per label, one colour per series (the rest as 'other')."""
    if len(series) > max_series:
        head, tail = series[: max_series - 1], series[max_series - 1 :]
        other = [sum((s[1][i] for s in tail), Decimal(0)) for i in range(len(labels))]
        series = [*head, ("other", other)]
    left, right, top = 64, 12, 34
    legend, lx, ly = [], left, 0
    for si, (name, _) in enumerate(series):
        label = name if len(name) <= 24 else name[:23] + "…"
        need = 24 + 7 * len(label)
        if lx + need > width - right and lx > left:
            lx, ly = left, ly + 18
        legend.append((si, label, lx, ly))
        lx += need
    bottom = 56 + ly
    height += ly
    pw, ph = width - left - right, height - top - bottom
    totals = [sum((max(s[1][i], Decimal(0)) for s in series), Decimal(0)) for i in range(len(labels))]
    top_value = _nice_max(float(max(totals, default=Decimal(0))))
    n = max(len(labels), 1)
    slot = pw / n
    bar = max(min(slot * 0.62, 48), 4)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<text class="chart-title" x="{left}" y="20">{escape(title)}</text>',
    ]
    for k in range(5):
        v = top_value * k / 4
        y = top + ph - ph * k / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis-label" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(compact(Decimal(str(v)), currency))}</text>"
        )
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + ph
        for si, (name, values) in enumerate(series):
            v = float(max(values[i], Decimal(0)))
            h = ph * v / top_value if top_value else 0
            if h <= 0:
                continue
            y -= h
            out.append(
                f'<rect class="series-{si % SERIES}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(label)} · '
                f"{escape(name)}: {escape(compact(values[i], currency))}</title></rect>"
            )
        short = label[2:] if len(label) == 7 else label  # 2025-01 -> 25-01
        out.append(
            f'<text class="axis-label" x="{left + slot * i + slot / 2:.1f}" '
            f'y="{top + ph + 16}" text-anchor="middle">{escape(short)}</text>'
        )
    out.append(
        f'<text class="axis-name" x="{left + pw / 2}" y="{top + ph + 32}" '
        f'text-anchor="middle">Billing period</text>'
    )
    base_y = top + ph + 44
    for si, label, lx, ly in legend:
        out.append(
            f'<rect class="series-{si % SERIES}" x="{lx}" y="{base_y + ly}" width="10" height="10" rx="2"/>'
        )
        out.append(f'<text class="legend" x="{lx + 14}" y="{base_y + ly + 9}">{escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(title: str, items: list[tuple[str, Decimal]], currency: str, *, width: int = 420) -> Markup:
    """Horizontal bars with their value: share of a total (cost by source)."""
    row = 30
    top = 34
    height = top + row * max(len(items), 1) + 8
    label_w = 140
    pw = width - label_w - 90
    peak = max((float(v) for _, v in items), default=0.0) or 1.0
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="0" y="20">{escape(title)}</text>',
    ]
    for i, (name, v) in enumerate(items):
        y = top + i * row
        w = max(pw * max(float(v), 0) / peak, 1)
        out.append(
            f'<text class="axis-label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(name[:22])}</text>"
        )
        out.append(
            f'<rect class="series-{i % SERIES}" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
            f'height="{row - 10}" rx="3"><title>{escape(name)}: '
            f"{escape(compact(v, currency))}</title></rect>"
        )
        out.append(
            f'<text class="value-label" x="{label_w + w + 6:.1f}" y="{y + 15}">'
            f"{escape(compact(v, currency))}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))
