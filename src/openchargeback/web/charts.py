"""Charts drawn on the server as SVG: titled, with axes, gridlines and labels.

The value axis has round ticks (1, 2 or 5 times a power of ten: $5K, $10K, $15K) written
in the site's locale; every bar says its exact amount on hover (its ``<title>``) and to a
screen reader, and a bar given a link opens the charges it sums. Colours are CSS classes
(series-0 ... series-7), so both themes restyle them and no inline style is needed (the
CSP forbids it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, Decimal
from urllib.parse import urlencode

from markupsafe import Markup, escape

from openchargeback.rendering import amounts
from openchargeback.services.insights import Trend

SERIES = 8
STEPS = (1, 2, 5, 10)  # nice multiples of a power of ten

Href = Callable[..., str | None]


def ticks(peak: Decimal, count: int = 5) -> list[Decimal]:
    """Round axis values from 0 to at least ``peak``: about ``count`` steps, each step
    1, 2 or 5 times a power of ten (the "nice numbers" of Heckbert, Graphics Gems, 1990)."""
    if peak <= 0:
        return [Decimal(0), Decimal(1)]
    raw = peak / count
    exponent = raw.adjusted()  # raw = f x 10^exponent with 1 <= f < 10
    fraction = raw.scaleb(-exponent)
    step = Decimal(next(m for m in STEPS if m >= fraction)).scaleb(exponent)
    n = int((peak / step).to_integral_value(rounding=ROUND_CEILING))
    return [_plain(step * k) for k in range(n + 1)]


def _plain(value: Decimal) -> Decimal:
    """5E+3 as 5000, 0.50 as 0.5: a tick written as people write it."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def _link(href: str | None, label: str, body: str) -> str:
    """``body`` (a bar) as a link that says what it is, or as it is."""
    if not href:
        return body
    return f'<a href="{escape(href)}" aria-label="{escape(label)}">{body}</a>'


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Decimal]]],
    currency: str,
    *,
    locale: str = amounts.DEFAULT_LOCALE,
    href: Href | None = None,
    width: int = 620,
    height: int = 320,
    max_series: int = 6,
) -> Markup:
    """Stacked columns, one per label, one colour per series (the rest as 'other');
    ``href(series_index, label_index)``: where a bar leads (None: nowhere)."""
    other = max_series - 1 if len(series) > max_series else None  # the 'other' series: no link
    if other is not None:
        head, tail = series[: max_series - 1], series[max_series - 1 :]
        series = [*head, ("other", [sum((s[1][i] for s in tail), Decimal(0)) for i in range(len(labels))])]
    left, right, top, bottom = 64, 12, 34, 44
    pw, ph = width - left - right, height - top - bottom
    totals = [sum((max(s[1][i], Decimal(0)) for s in series), Decimal(0)) for i in range(len(labels))]
    axis = ticks(max(totals, default=Decimal(0)))
    top_value = axis[-1]
    n = max(len(labels), 1)
    slot = pw / n
    bar = max(min(slot * 0.62, 48), 4)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{left}" y="20" aria-hidden="true">{escape(title)}</text>',
        '<g aria-hidden="true">',
    ]
    for v in axis:
        y = top + ph - ph * float(v / top_value)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis-label" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(amounts.compact(v, currency, locale, digits=3))}</text>"
        )
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    out.append("</g>")
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + ph
        for si, (name, values) in enumerate(series):
            h = ph * float(max(values[i], Decimal(0)) / top_value)
            if h <= 0:
                continue
            y -= h
            said = f"{label} · {name}: {amounts.money(values[i], currency, locale)}"
            rect = (
                f'<rect class="series-{si % SERIES}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(said)}</title></rect>'
            )
            out.append(_link(href(si, i) if href and si != other else None, said, rect))
        short = label[2:] if len(label) == 7 else label  # 2025-01 -> 25-01
        odd = " x-odd" if i % 2 and n > 6 else ""  # a phone shows every other period
        out.append(
            f'<text class="axis-label{odd}" x="{left + slot * i + slot / 2:.1f}" '
            f'y="{top + ph + 18}" text-anchor="middle" aria-hidden="true">{escape(short)}</text>'
        )
    out.append(
        f'<text class="axis-name" x="{left + pw / 2}" y="{top + ph + 38}" text-anchor="middle" '
        'aria-hidden="true">Billing period</text></svg>'
    )
    # the legend is HTML: it wraps to the width and its text keeps its size on a phone
    out.append('<ul class="chart-legend" aria-hidden="true">')
    for si, (name, _) in enumerate(series):
        out.append(f'<li><span class="swatch series-{si % SERIES}"></span>{escape(name)}</li>')
    out.append("</ul>")
    return Markup("".join(out))


def hbars(
    title: str,
    items: Sequence[tuple[str, Decimal]],
    currency: str,
    *,
    locale: str = amounts.DEFAULT_LOCALE,
    href: Href | None = None,
    width: int = 420,
) -> Markup:
    """Horizontal bars with their value: share of a total (cost by source);
    ``href(index)``: where a bar leads."""
    row = 30
    top = 34
    height = top + row * max(len(items), 1) + 8
    label_w = 150
    pw = width - label_w - 90
    peak = max((max(v, Decimal(0)) for _, v in items), default=Decimal(0)) or Decimal(1)
    out = [
        f'<svg class="chart hbars" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="0" y="20" aria-hidden="true">{escape(title)}</text>',
    ]
    for i, (name, v) in enumerate(items):
        y = top + i * row
        w = max(pw * float(max(v, Decimal(0)) / peak), 1)
        said = f"{name}: {amounts.money(v, currency, locale)}"
        out.append(
            f'<text class="axis-label" x="{label_w - 8}" y="{y + 15}" text-anchor="end" '
            f'aria-hidden="true">{escape(name if len(name) <= 18 else name[:17] + "…")}</text>'
        )
        rect = (
            f'<rect class="series-{i % SERIES}" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
            f'height="{row - 10}" rx="3"><title>{escape(said)}</title></rect>'
        )
        out.append(_link(href(i) if href else None, said, rect))
        out.append(
            f'<text class="value-label" x="{label_w + w + 6:.1f}" y="{y + 15}" aria-hidden="true">'
            f"{escape(amounts.compact(v, currency, locale))}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def charges_link(**filters: str | None) -> str | None:
    """The charges page filtered so (None when a filter has no value to give: charges
    without a PI cannot be asked for by PI)."""
    if any(v is None or v == "" for v in filters.values()):
        return None
    return "/charges?" + urlencode(filters)


def trend(title: str, t: Trend, currency: str, locale: str, **filters: str | None) -> Markup | None:
    """A trend's stacked columns, each bar a link to its charges (its period, its series'
    value and ``filters``, the page's own: the PI or project shown)."""
    if not t.periods:
        return None
    by = t.by or "source"
    return stacked_bars(
        title,
        t.periods,
        [(s.label, s.values) for s in t.series],
        currency,
        locale=locale,
        href=lambda si, pi: charges_link(period=t.periods[pi], **{by: t.series[si].key}, **filters),
    )
