"""The stylesheet and script inlined in report.html. The page's Content-Security-Policy allows
exactly these two by their SHA-256 (html.csp), so nothing else can run or load.

The script only filters what is already on the page (by check, severity and path; the initial
filter may be given in the address: report.html?check=decode&severity=error&q=cat/): with
JavaScript off, every section is shown and the filter controls stay hidden.
"""

STYLE = """
:root { --error: #c62828; --warning: #b26a00; --ok: #2e7d32; --ink: #111827; --muted: #6b7280;
  --line: #e5e7eb; --panel: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 34px 0 10px; }
h3 { font-size: 14px; margin: 0; }
.source { color: var(--muted); word-break: break-all; margin: 0 0 16px; }
.verdict { display: flex; align-items: center; gap: 18px; padding: 16px 20px; border-radius: 10px;
  border: 1px solid var(--line); background: var(--panel); flex-wrap: wrap; }
.badge { font-weight: 700; font-size: 20px; padding: 6px 16px; border-radius: 8px; color: #fff; }
.badge.fail { background: var(--error); } .badge.pass { background: var(--ok); }
.numbers { display: flex; gap: 22px; flex-wrap: wrap; margin: 0; }
.numbers div { min-width: 84px; } .numbers dt { color: var(--muted); font-size: 12px; }
.numbers dd { margin: 0; font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; }
.numbers .error dd { color: var(--error); } .numbers .warning dd { color: var(--warning); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.sev { font-size: 11px; font-weight: 700; text-transform: uppercase; padding: 1px 6px; border-radius: 4px;
  color: #fff; white-space: nowrap; }
.sev.error { background: var(--error); } .sev.warning { background: var(--warning); }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; }
.plot { border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; margin: 0; }
.plot p { color: var(--muted); margin: 4px 0 8px; font-size: 12.5px; }
.plot svg { max-width: 100%; height: auto; }
#filters { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; padding: 10px 14px;
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px; position: sticky; top: 0;
  z-index: 2; }
#filters[hidden] { display: none; }
#filters input[type=search] { min-width: 260px; padding: 5px 8px; border: 1px solid #d1d5db;
  border-radius: 6px; font: inherit; }
#filters select { padding: 4px 6px; font: inherit; }
#shown { color: var(--muted); margin-left: auto; }
.group { margin-top: 22px; } .group header { display: flex; gap: 10px; align-items: baseline; }
.group header p { margin: 0; color: var(--muted); }
.more { color: var(--muted); font-style: italic; margin: 8px 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 10px;
  margin-top: 10px; }
.card { display: flex; gap: 10px; border: 1px solid var(--line); border-radius: 8px; padding: 8px;
  min-width: 0; }
.card[hidden], .group[hidden], tr[hidden] { display: none; }
.thumb { flex: 0 0 96px; height: 96px; display: flex; align-items: center; justify-content: center;
  background: #f3f4f6; border-radius: 6px; overflow: hidden; }
.thumb img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; }
.bytes { flex: 0 0 150px; background: #1f2937; color: #e5e7eb; border-radius: 6px; padding: 6px;
  overflow: hidden; }
.bytes b { display: block; color: #fca5a5; font-size: 11.5px; margin-bottom: 3px; }
.bytes pre { margin: 0; font: 10.5px/1.3 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap;
  word-break: break-all; }
.meta { min-width: 0; flex: 1; }
.path { display: block; word-break: break-all; font-weight: 600; }
.label { color: var(--muted); font-size: 12px; }
.meta ul { margin: 4px 0 0; padding: 0; list-style: none; font-size: 12.5px; }
.meta li { margin: 2px 0; } .meta li.error b { color: var(--error); } .meta li.warning b { color: var(--warning); }
.note { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
details { margin-top: 30px; } summary { cursor: pointer; font-weight: 600; }
.empty { color: var(--muted); }
"""

SCRIPT = """
(function () {
  var form = document.getElementById('filters');
  if (!form) { return; }
  form.hidden = false;
  var check = document.getElementById('f-check'), query = document.getElementById('f-path');
  var severities = form.querySelectorAll('input[type=checkbox]'), shown = document.getElementById('shown');
  function allowed(el) {
    var sev = {};
    severities.forEach(function (box) { sev[box.value] = box.checked; });
    return (!check.value || el.dataset.check === check.value) && sev[el.dataset.severity];
  }
  function apply() {
    var text = query.value.trim().toLowerCase(), count = 0;
    document.querySelectorAll('tr[data-check]').forEach(function (row) { row.hidden = !allowed(row); });
    document.querySelectorAll('.group').forEach(function (group) {
      var visible = 0, ok = allowed(group);
      group.querySelectorAll('.card').forEach(function (card) {
        card.hidden = !(ok && card.dataset.path.indexOf(text) !== -1);
        if (!card.hidden) { visible += 1; }
      });
      group.hidden = !ok || (text !== '' && visible === 0);
      count += visible;
    });
    shown.textContent = count + ' shown';
  }
  var given = new URLSearchParams(location.search);  // report.html?check=decode&severity=error&q=cat/
  if (given.has('check')) { check.value = given.get('check'); }
  if (given.has('q')) { query.value = given.get('q'); }
  if (given.has('severity')) {
    severities.forEach(function (box) { box.checked = box.value === given.get('severity'); });
  }
  form.addEventListener('input', apply);
  form.addEventListener('submit', function (event) { event.preventDefault(); });
  apply();
})();
"""
