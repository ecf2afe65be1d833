"""report.html: the report folder as one page a person reads, self-contained so that it opens from
a CI artifact or an air-gapped machine: inline CSS, script and SVG, thumbnails as data: URIs, and
a Content-Security-Policy that lets the page make no request at all (default-src 'none'; only
data: images and the page's own style and script, allowed by their hashes).

The page is drawn from what summary.json and findings.jsonl hold (so `sanitize report` can draw
it again without a scan) and from the flagged files themselves, read by report.previews. The
gallery is capped per finding (GALLERY_CAP, with the count of the rest), so the page stays small
on a large dataset: see docs/output.md for the size measured on 100,000 samples with 1% bad.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Iterable
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanitize.config import ScanConfig
from sanitize.errors import SanitizeError
from sanitize.findings import CATALOGUE, CHECK_DESCRIPTIONS
from sanitize.remote import is_url
from sanitize.report import plots
from sanitize.report.assets import SCRIPT, STYLE
from sanitize.report.files import FindingsRecord, ReportFolder, read_report, xml_text

if TYPE_CHECKING:  # report.previews loads Pillow and the decoders: only once a page is drawn
    from sanitize.report.previews import Preview, Previewer

REPORT_HTML = "report.html"
#: Samples shown per finding code; the rest are counted.
GALLERY_CAP = 200
_MEANINGS = {code.name: code.meaning for code in CATALOGUE}


def escape(text: str) -> str:
    """`text` for HTML: its markup characters escaped, and what no document can hold (a control
    character, the undecodable bytes of a file name) written as `\\xNN`, visible and valid UTF-8."""
    return html_escape(xml_text(text))


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp() -> str:
    """The page's policy: no request of any kind; its own style and script run by hash."""
    return (
        f"default-src 'none'; img-src data:; style-src {_sha256(STYLE)}; script-src {_sha256(SCRIPT)};"
        " base-uri 'none'; form-action 'none'"
    )


def _samples(count: int) -> str:
    return f"{count:,} sample" if count == 1 else f"{count:,} samples"


def _number(label: str, value: str, kind: str = "") -> str:
    return f'<div class="{kind}"><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>'


def _header(summary: dict[str, Any]) -> str:
    samples, dataset = summary["samples"], summary["dataset"]
    failed = samples["with_errors"] > 0
    numbers = [
        _number("samples", f"{samples['scanned']:,}"),
        _number("with errors", f"{samples['with_errors']:,}", "error"),
        _number("with warnings", f"{samples['with_warnings']:,}", "warning"),
        _number("clean", f"{samples['clean']:,}"),
        _number("exit code", "1" if failed else "0"),
        _number("duration", f"{summary.get('elapsed_seconds', 0):,.3g} s"),
        _number("samples/s", f"{summary.get('samples_per_second', 0):,.0f}"),
    ]
    badge = '<span class="badge fail">FAIL</span>' if failed else '<span class="badge pass">PASS</span>'
    return (
        f"<h1>sanitize report: {escape(dataset['kind'])} {escape(dataset.get('task', ''))}</h1>"
        f'<p class="source">{escape(dataset["source"])}</p>'
        f'<section class="verdict" id="verdict">{badge}<dl class="numbers">{"".join(numbers)}</dl></section>'
        '<p class="note">Exit code as <code>sanitize scan</code> gives it (<code>--max-errors 0</code>);'
        " an audit exits on new errors only (diff.json).</p>"
    )


def _findings_table(findings: dict[str, Any]) -> str:
    if not findings:
        return '<h2 id="findings">Findings</h2><p class="empty">No sample has a finding.</p>'
    rows = []
    for name, entry in findings.items():
        check = name.split(":")[0]
        severity = escape(entry["severity"])
        rows.append(
            f'<tr data-check="{escape(check)}" data-severity="{severity}"><td><a href="#g-{escape(name)}">'
            f'<code>{escape(name)}</code></a></td><td><span class="sev {severity}">{severity}</span></td>'
            f'<td class="n">{entry["samples"]:,}</td><td>{escape(_MEANINGS.get(name, ""))}</td></tr>'
        )
    return (
        '<h2 id="findings">Findings</h2><table><thead><tr><th>finding</th><th>severity</th>'
        f'<th class="n">samples</th><th>meaning</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _plot(title: str, svg: str | None, caption: str) -> str:
    if svg is None:
        return ""
    return f'<figure class="plot"><h3>{escape(title)}</h3><p>{escape(caption)}</p>{svg}</figure>'


def _plots(summary: dict[str, Any]) -> str:
    classes, probe = summary["classes"], summary["probe"]
    sizes = summary.get("image_sizes") or {}
    loss = probe.get("loss") or {}
    mean = loss.get("mean")
    loss_caption = (
        f"{loss.get('count', 0):,} samples, mean {mean:.3f}; an untrained net should give about"
        f" ln(num_classes) = {probe['expected_untrained_loss']:.3f} (dashed)"
        if mean is not None
        else ""
    )
    what = "masks holding each class" if summary["dataset"].get("task") == "segmentation" else "samples per class"
    parts = [
        _plot("Classes", plots.classes_plot(classes), f"{what}; ignore label: {_samples(classes.get('ignored', 0))}"),
        _plot("Probe loss", plots.loss_plot(probe), loss_caption),
        _plot("Image sizes", plots.sizes_plot(sizes), f"{sizes.get('unknown', 0):,} samples of unknown size"),
        _plot(
            "Formats and decoders",
            plots.share_plot({"format": summary.get("formats", {}), "decoder": summary.get("decoders", {})}),
            "detected content format (magic bytes) and the decoder that judged it",
        ),
    ]
    return f'<h2 id="plots">Dataset</h2><div class="plots">{"".join(parts)}</div>'


def _bytes_view(preview: Preview) -> str:
    head = preview.head or b""
    hex_ = " ".join(f"{byte:02x}" for byte in head)
    text = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in head)
    what = preview.format or "unknown format"
    return f'<div class="bytes"><b>{escape(what)}</b><pre>{escape(text)}\n\n{hex_}</pre></div>'


def _card(record: FindingsRecord, preview: Preview) -> str:
    if preview.image is not None:
        shown = f'<div class="thumb"><img src="{preview.image}" alt="{escape(record.path)}"></div>'
    elif preview.head is not None:
        shown = _bytes_view(preview)
    else:
        shown = '<div class="thumb"><span class="empty">no preview</span></div>'
    items = "".join(
        f'<li class="{f.severity.value}"><b>{escape(f.name)}</b> {escape(f.message)}</li>' for f in record.findings
    )
    if record.mask is not None:
        label = f"mask <code>{escape(record.mask)}</code>"
    else:
        label = escape(f"label {record.label}" if record.label is not None else "no label")
    note = f'<p class="note">{escape(preview.note)}</p>' if preview.note else ""
    return (
        f'<article class="card" data-path="{escape(record.path.lower())}">{shown}<div class="meta">'
        f'<code class="path">{escape(record.path)}</code><span class="label">{label}</span>'
        f"<ul>{items}</ul>{note}</div></article>"
    )


def _gallery(findings: dict[str, Any], records: Iterable[FindingsRecord], previewer: Previewer, cap: int) -> str:
    """The flagged samples grouped by finding code, at most `cap` per code, in dataset order."""
    groups: dict[str, list[FindingsRecord]] = {name: [] for name in findings}
    counts = dict.fromkeys(findings, 0)
    for record in records:
        for name in dict.fromkeys(f.name for f in record.findings):
            counts[name] = counts.get(name, 0) + 1
            shown = groups.setdefault(name, [])
            if len(shown) < cap:
                shown.append(record)
    previews: dict[tuple[str, str | None], Preview] = {}
    sections = []
    for name, shown in groups.items():
        if not shown:
            continue
        check = name.split(":")[0]
        severity = shown[0].findings[[f.name for f in shown[0].findings].index(name)].severity.value
        cards = []
        for record in shown:
            key = (record.path, record.mask)
            if key not in previews:
                previews[key] = previewer.preview(record.path, record.mask)
            cards.append(_card(record, previews[key]))
        rest = counts[name] - len(shown)
        more = f'<p class="more">and {rest:,} more (all in findings.jsonl)</p>' if rest else ""
        sections.append(
            f'<section class="group" id="g-{escape(name)}" data-check="{escape(check)}" data-severity="{severity}">'
            f'<header><h3><code>{escape(name)}</code></h3><span class="sev {severity}">{severity}</span>'
            f"<p>{_samples(counts[name])} · {escape(CHECK_DESCRIPTIONS.get(check, ''))}</p></header>"
            f'<div class="cards">{"".join(cards)}</div>{more}</section>'
        )
    if not sections:
        return ""
    checks = sorted({name.split(":")[0] for name in groups if groups[name]})
    options = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in checks)
    controls = (
        '<form id="filters" hidden><label>check <select id="f-check"><option value="">all</option>'
        f"{options}</select></label>"
        '<label><input type="checkbox" value="error" checked> errors</label>'
        '<label><input type="checkbox" value="warning" checked> warnings</label>'
        '<input type="search" id="f-path" placeholder="search paths" aria-label="search paths">'
        '<span id="shown"></span></form>'
    )
    return f'<h2 id="gallery">Flagged samples</h2>{controls}{"".join(sections)}'


def _details(summary: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(str(key))}</code></td><td><code>{escape(json.dumps(value))}</code></td></tr>"
        for section in ("config", "versions")
        for key, value in (summary.get(section) or {}).items()
    )
    return f"<details><summary>Configuration and versions</summary><table><tbody>{rows}</tbody></table></details>"


def render_html(
    summary: dict[str, Any], records: Iterable[FindingsRecord], previewer: Previewer, cap: int = GALLERY_CAP
) -> str:
    """The page, from summary.json's data and findings.jsonl's records (in dataset order)."""
    body = (
        _header(summary)
        + _findings_table(summary.get("findings") or {})
        + _plots(summary)
        + _gallery(summary.get("findings") or {}, records, previewer, cap)
        + _details(summary)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sanitize report: {escape(summary['dataset']['source'])}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )


def previewer_for(summary: dict[str, Any], config: ScanConfig) -> Previewer:
    """Previews from the dataset summary.json names: its root on disk; none for one in object storage."""
    from sanitize.report.previews import Previewer

    dataset = summary["dataset"]
    real_root = dataset.get("real_root") or dataset["root"]
    return Previewer(dataset["root"], None if is_url(real_root) else real_root, config)


def write_html(
    folder: ReportFolder, summary: dict[str, Any], records: Iterable[FindingsRecord], config: ScanConfig
) -> str | None:
    """Write report.html; None, or one line saying why it was not written (the other report files,
    and the verdict, never depend on it). A page left from an earlier report is removed then: it
    would show findings that are not this report's."""
    try:
        folder.write_text(REPORT_HTML, render_html(summary, records, previewer_for(summary, config)))
    except Exception as exc:  # noqa: BLE001 - a page that cannot be drawn must not cost the scan its report
        with contextlib.suppress(OSError):
            folder.remove(REPORT_HTML)
        return f"{REPORT_HTML} not written: {type(exc).__name__}: {exc}"
    return None


def render_report(report_dir: Path | str) -> Path:
    """Draw report.html again from a report folder's findings.jsonl and summary.json (no scan):
    after an upgrade, or for a report made before report.html existed. Returns the page's path."""
    folder = Path(report_dir)
    read = read_report(folder)
    try:
        config = ScanConfig.from_dict(read.summary["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SanitizeError(f"{folder} is not a readable scan report: its config: {exc!r}") from None
    problem = write_html(ReportFolder(folder), read.summary, read.records, config)
    if problem is not None:
        raise SanitizeError(problem)
    return folder / REPORT_HTML
