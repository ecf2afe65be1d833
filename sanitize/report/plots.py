"""The plots of report.html as inline SVG, drawn from summary.json alone (no script, no request):
samples per class with the empty classes marked, the probe's loss distribution against
ln(num_classes), image sizes, formats and decoders. Each bar or cell carries a <title>, which a
browser shows on hover, so exact numbers are there without JavaScript.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH, HEIGHT = 520, 220
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 14, 38
BAR, EMPTY, LINE, MUTED = "#3b6ea8", "#c62828", "#d08400", "#6b7280"


def _svg(label: str, body: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img"'
        f' aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", fill: str = MUTED, size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">{escape(text)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str, opacity: float = 1.0) -> str:
    return (
        f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0.5):.2f}" height="{h:.2f}" fill="{fill}"'
        f' opacity="{opacity:.2f}"><title>{escape(title)}</title></rect>'
    )


def _axes(top: float) -> list[str]:
    """The value axis with its top value, and the baseline."""
    base = HEIGHT - BOTTOM
    return [
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{MUTED}"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="{MUTED}"/>',
        _text(LEFT - 4, TOP + 8, f"{top:,.0f}", anchor="end"),
        _text(LEFT - 4, base, "0", anchor="end"),
    ]


def _bars(values: list[tuple[str, int]], x_label: str, fill: str = BAR) -> list[str]:
    """Vertical bars of `values`, one per (name, count), labelled below when few."""
    top = max((count for _, count in values), default=0) or 1
    span, base = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    step = span / max(len(values), 1)
    body = _axes(top)
    for position, (name, count) in enumerate(values):
        height = (base - TOP) * count / top
        x = LEFT + position * step
        body.append(_rect(x + step * 0.1, base - height, step * 0.8, height, fill, f"{name}: {count:,}"))
        if len(values) <= 24:
            body.append(_text(x + step / 2, base + 13, name[:10]))
    body.append(_text(LEFT + span / 2, HEIGHT - 6, x_label))
    return body


def classes_plot(classes: dict[str, Any]) -> str:
    """Samples per class (masks holding it, for segmentation); an empty class is a red mark under the axis."""
    counts: dict[str, int] = classes.get("counts") or {}
    empty = set(classes.get("empty") or ())
    body = _bars(list(counts.items()), f"{len(counts):,} classes, {len(empty):,} empty (red)")
    step = (WIDTH - LEFT - RIGHT) / max(len(counts), 1)
    for position, name in enumerate(counts):
        if name in empty:
            x = LEFT + position * step
            body.append(_rect(x, HEIGHT - BOTTOM + 2, max(step, 2), 5, EMPTY, f"{name}: no samples"))
    return _svg("samples per class", body)


def loss_plot(probe: dict[str, Any]) -> str | None:
    """The probe's loss histogram with ln(num_classes), what an untrained net should give, as a line."""
    histogram = (probe.get("loss") or {}).get("histogram")
    if not probe.get("enabled") or not histogram:
        return None
    edges, counts = histogram["edges"], histogram["counts"]
    low, high = edges[0], edges[-1]
    top = max(counts) or 1
    span, base = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    at = lambda value: LEFT + span * (value - low) / ((high - low) or 1)  # noqa: E731
    body = _axes(top)
    for count, start, end in zip(counts, edges, edges[1:], strict=False):
        height = (base - TOP) * count / top
        title = f"{start:.3g}-{end:.3g}: {count:,}"
        body.append(_rect(at(start), base - height, at(end) - at(start) - 0.5, height, BAR, title))
    expected = probe["expected_untrained_loss"]
    body.append(
        f'<line x1="{at(expected):.1f}" y1="{TOP}" x2="{at(expected):.1f}" y2="{base}" stroke="{LINE}"'
        f' stroke-width="2" stroke-dasharray="5 3"><title>ln(num_classes) = {expected:.3f}</title></line>'
    )
    right = at(expected) > WIDTH - RIGHT - 90  # the label goes left of the line near the right edge
    body.append(
        _text(
            at(expected) + (-4 if right else 4), TOP + 10, f"ln(K) = {expected:.3g}", "end" if right else "start", LINE
        )
    )
    body += [_text(LEFT, base + 13, f"{low:.3g}"), _text(WIDTH - RIGHT, base + 13, f"{high:.3g}")]
    body.append(_text(LEFT + span / 2, HEIGHT - 6, "probe loss per sample"))
    return _svg("probe loss distribution", body)


def sizes_plot(sizes: dict[str, Any]) -> str | None:
    """Decoded images by width and height (log2 bins) as a heat map: an outlier is a lone cell."""
    cells = sizes.get("cells") or []
    if not cells:
        return None
    widths, heights = [c[0] for c in cells], [c[1] for c in cells]
    columns = range(min(widths), max(widths) + 1)
    rows = range(min(heights), max(heights) + 1)
    top = max(c[2] for c in cells)
    cell = min((WIDTH - LEFT - RIGHT) / len(columns), (HEIGHT - TOP - BOTTOM) / len(rows), 48)
    base = TOP + cell * len(rows)
    body = []
    for width, height, count in cells:
        shade = 0.15 + 0.85 * math.log1p(count) / math.log1p(top)
        x, y = LEFT + (width - columns[0]) * cell, base - (height - rows[0] + 1) * cell
        title = f"width {2**width}-{2 ** (width + 1) - 1}, height {2**height}-{2 ** (height + 1) - 1}: {count:,}"
        body.append(_rect(x + 1, y + 1, cell - 2, cell - 2, BAR, title, shade))
    for offset, bin_ in enumerate(columns):
        body.append(_text(LEFT + (offset + 0.5) * cell, base + 13, f"{2**bin_}"))
    for offset, bin_ in enumerate(rows):
        body.append(_text(LEFT - 4, base - (offset + 0.5) * cell + 4, f"{2**bin_}", anchor="end"))
    body.append(_text(LEFT + cell * len(columns) / 2, base + 28, "width (px, log2 bins); height on the left"))
    return _svg("image sizes", body, height=int(base + 34))


def share_plot(groups: dict[str, dict[str, int]]) -> str:
    """Horizontal bars of counts per name, one block per group (formats, decoders)."""
    rows = [(group, name, count) for group, counts in groups.items() for name, count in counts.items()]
    top = max((count for *_, count in rows), default=0) or 1
    line, label = 18, 190
    body, y = [], TOP
    for group, counts in groups.items():
        body.append(_text(4, y + 10, group, anchor="start", fill="#111827", size=12))
        y += line
        for name, count in counts.items():
            width = (WIDTH - label - 70) * count / top
            body.append(_text(label - 6, y + 11, name[:30], anchor="end"))
            body.append(_rect(label, y + 2, width, line - 6, BAR, f"{group} {name}: {count:,}"))
            body.append(_text(label + width + 4, y + 11, f"{count:,}", anchor="start"))
            y += line
    return _svg("formats and decoders", body, height=int(y + 6))
