"""``psfleet report --html``: one self-contained HTML page of the fleet's compliance.

Reads only the plain data of :func:`toolkit.store.report_data.report_data`. The page needs no
network: CSS, script and charts (inline SVG) are inside it, and a Content-Security-Policy
forbids any fetch. Charts do not rely on colour alone: each check's trend line has its own
marker shape and dash pattern and is labelled at its end; status bars use fill patterns
(solid, hatched, dotted) and print their counts. The host table is rendered as HTML (readable
without script); the script adds sorting (click a column) and filtering (text and status).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from toolkit.checks.rules import RULE_PREFIX

STATUS_ORDER = ("compliant", "drift", "unassessed")
#: Fill pattern per status (defined in the page's <defs>): the second cue besides colour.
PATTERNS = {"compliant": "url(#p-solid)", "drift": "url(#p-hatch)", "unassessed": "url(#p-dots)"}
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#fff}
header{padding:16px 24px;background:#0b3d62;color:#fff}header h1{margin:0 0 4px;font-size:20px}
main{padding:8px 24px 32px;max-width:1400px}section{margin:20px 0}h2{font-size:16px;margin:0 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ccd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #dde;padding:4px 6px;text-align:left;vertical-align:top}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
.st{font-weight:600;white-space:nowrap}.st-compliant{color:#1a6b2f}.st-drift{color:#a4161a}.st-other{color:#7a4b00}
.st-compliant::before{content:"\\2714 "}.st-drift::before{content:"\\2716 "}.st-other::before{content:"? "}
.st-not_applicable{color:#555}.st-not_applicable::before{content:"\\2013 "}
.why{color:#444;font-size:12px}.controls{display:flex;gap:12px;margin:8px 0;align-items:center}
input[type=search]{padding:4px 6px;width:280px}svg text{font:12px system-ui,sans-serif}
.bar{display:inline-block;height:10px;background:#a4161a;vertical-align:middle}
caption{text-align:left;font-weight:600;padding:4px 0}
"""

SCRIPT = """
(function(){
  var table=document.getElementById('hosts');if(!table)return;
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  var text=document.getElementById('host-filter'),status=document.getElementById('status-filter');
  var shown=document.getElementById('shown-count');
  function apply(){
    var q=(text.value||'').toLowerCase(),s=status.value,n=0;
    rows.forEach(function(r){
      var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0)&&(!s||r.getAttribute('data-status')===s);
      r.hidden=!ok;if(ok)n++;
    });
    shown.textContent=String(n);
  }
  text.addEventListener('input',apply);status.addEventListener('change',apply);
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    var b=th.querySelector('button');if(!b)return;
    b.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      rows.sort(function(x,y){
        var a=x.cells[i].getAttribute('data-key')||x.cells[i].textContent,
            c=y.cells[i].getAttribute('data-key')||y.cells[i].textContent;
        var r=a.localeCompare(c,undefined,{numeric:true});return asc?r:-r;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  apply();
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _status_class(status: str) -> str:
    return f"st-{status}" if status in ("compliant", "drift", "not_applicable") else "st-other"


def _bucket(status: str) -> str:
    return status if status in ("compliant", "drift") else "unassessed"


def rule_link(rule: str, facts_url: str) -> str:
    """An ``<a>`` to the fact a verdict rests on (``windows-facts#anchor``), or the text."""
    if rule.startswith(RULE_PREFIX) and len(rule) > len(RULE_PREFIX):
        anchor = rule[len(RULE_PREFIX) :]
        return f'<a href="{_e(facts_url)}#{_e(anchor)}" rel="noopener">{_e(anchor)}</a>'
    return _e(rule)


def _defs() -> str:
    return (
        '<svg width="0" height="0" aria-hidden="true" style="position:absolute"><defs>'
        '<pattern id="p-solid" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" fill="#2e8540"/></pattern>'
        '<pattern id="p-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#f4c7c3"/><rect width="3" height="6" fill="#a4161a"/></pattern>'
        '<pattern id="p-dots" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" fill="#fde9c4"/><circle cx="3" cy="3" r="1.6" fill="#7a4b00"/></pattern>'
        "</defs></svg>"
    )


def _marker(shape: str, x: float, y: float) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7"/>'
    if shape == "triangle":
        return (
            f'<polygon points="{x:.1f},{y - 4.5:.1f} {x - 4:.1f},{y + 3.5:.1f} {x + 4:.1f},{y + 3.5:.1f}"/>'
        )
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y:.1f} {x:.1f},{y + 4.5:.1f} {x - 4.5:.1f},{y:.1f}"/>'
    return f'<path d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}" stroke-width="2"/>'


def trend_svg(runs: Sequence[Mapping[str, Any]], trend: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Per check, the share of assessed hosts compliant at each run (0-100 %), one line per
    check with its own marker and dash, labelled at its last point."""
    width, height, left, right, top, bottom = 900, 280, 48, 170, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(runs)
    palette = ("#0b3d62", "#a4161a", "#2e8540", "#7a4b00", "#5b2a86")

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(share: float) -> float:
        return top + plot_h * (1 - share)

    parts = [
        f'<svg id="trend" role="img" aria-labelledby="trend-title" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px">',
        '<title id="trend-title">Compliance per check over time (% of assessed hosts compliant)</title>',
    ]
    for pct in (0, 25, 50, 75, 100):
        y = y_at(pct / 100)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    step = max(1, n // 8)
    # Dates (MM-DD) when the runs span days, else times (HH:MM, UTC).
    same_day = n > 0 and runs[0]["started"][:10] == runs[-1]["started"][:10]
    for i in range(0, n, step):
        stamp = runs[i]["started"][11:16] if same_day else runs[i]["started"][5:10]
        parts.append(
            f'<text x="{x_at(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">{_e(stamp)}</text>'
        )
    labels: list[tuple[float, float, str, str]] = []
    for k, (check_id, points) in enumerate(trend.items()):
        colour, shape, dash = palette[k % len(palette)], MARKERS[k % len(MARKERS)], DASHES[k % len(DASHES)]
        coords = []
        for i, p in enumerate(points):
            assessed = p["compliant"] + p["drift"]
            if assessed:
                coords.append(
                    (x_at(i), y_at(p["compliant"] / assessed), round(100 * p["compliant"] / assessed, 1))
                )
        if not coords:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g class="series" data-check="{_e(check_id)}" fill="{colour}" stroke="{colour}">'
            f'<polyline points="{path}" fill="none" stroke-width="2"{dash_attr}/>'
        )
        every = max(1, len(coords) // 30)
        for j, (x, y, pct_) in enumerate(coords):
            if j % every == 0 or j == len(coords) - 1:
                parts.append(f"<g><title>{_e(check_id)}: {pct_}%</title>{_marker(shape, x, y)}</g>")
        x, y, last = coords[-1]
        parts.append("</g>")
        labels.append((y, x, colour, f"{check_id} {last}%"))
    # End labels, pushed apart where lines end close together (they often all end at 100%).
    placed = -1e9
    for y, x, colour, label in sorted(labels):
        y = max(y, placed + 15)
        placed = y
        parts.append(f'<text x="{x + 10:.1f}" y="{y + 4:.1f}" fill="{colour}">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def os_svg(rows: Sequence[Mapping[str, Any]]) -> str:
    """The fleet by OS build: one bar per build, split by status with fill patterns and counts."""
    bar_h, gap, left, width = 22, 8, 260, 900
    height = max(1, len(rows)) * (bar_h + gap) + 30
    biggest = max((r["total"] for r in rows), default=1) or 1
    parts = [
        f'<svg id="by-os" role="img" aria-labelledby="os-title" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px"><title id="os-title">Hosts by OS build and status</title>'
    ]
    for i, row in enumerate(rows):
        y = i * (bar_h + gap)
        label = f"{row['os']} ({row['build']})" if row["build"] is not None else row["os"]
        parts.append(f'<text x="{left - 8}" y="{y + bar_h - 6}" text-anchor="end">{_e(label)}</text>')
        x = float(left)
        counts: dict[str, int] = {}
        for status, n in row["counts"].items():
            counts[_bucket(status)] = counts.get(_bucket(status), 0) + n
        for status in STATUS_ORDER:
            n = counts.get(status, 0)
            if not n:
                continue
            w = (width - left - 230) * n / biggest
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PATTERNS[status]}" '
                f'stroke="#333" stroke-width="0.5"><title>{_e(label)}: {n} {status}</title></rect>'
            )
            x += w
        summary = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts.get(s))
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar_h - 6}">{_e(summary)}</text>')
    ly = len(rows) * (bar_h + gap) + 8
    for j, status in enumerate(STATUS_ORDER):
        lx = left + j * 150
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="16" height="14" fill="{PATTERNS[status]}" stroke="#333" stroke-width="0.5"/>'
            f'<text x="{lx + 22}" y="{ly + 12}">{status}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _host_table(hosts: Sequence[Mapping[str, Any]], check_ids: Sequence[str], facts_url: str) -> str:
    head = "".join(
        f'<th scope="col"><button type="button">{_e(h)}</button></th>'
        for h in ("Host", "Status", "OS", "Groups", *check_ids)
    )
    body: list[str] = []
    for h in hosts:
        by_id = {c["id"]: c for c in h["checks"]}
        cells = [
            f'<td data-key="{_e(h["name"])}">{_e(h["name"])}</td>',
            f'<td data-key="{_e(h["status"])}"><span class="st {_status_class(h["status"])}">{_e(h["status"])}</span>'
            + (f'<div class="why">{_e(h["error"])}</div>' if h["error"] else "")
            + "</td>",
            f'<td data-key="{_e(h["os_build"] or 0):0>8}">{_e(h["os"])}</td>',
            f"<td>{_e(', '.join(h['groups']))}</td>",
        ]
        for check_id in check_ids:
            c = by_id.get(check_id)
            if c is None:
                cells.append("<td></td>")
                continue
            cells.append(
                f'<td data-key="{_e(c["status"])}"><span class="st {_status_class(c["status"])}">{_e(c["status"])}</span> '
                f"{_e(c.get('actual', ''))}"
                f'<div class="why">{_e(c.get("reason", ""))} [{rule_link(str(c.get("rule", "")), facts_url)}]</div></td>'
            )
        body.append(f'<tr data-status="{_e(_bucket(h["status"]))}">{"".join(cells)}</tr>')
    return f'<table id="hosts"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_html(data: Mapping[str, Any], *, facts_url: str = "docs/windows-facts.md") -> str:
    """The whole page. ``facts_url`` is where rule links point (``...#anchor`` is added)."""
    runs: Sequence[Mapping[str, Any]] = data["runs"]
    hosts: Sequence[Mapping[str, Any]] = data["hosts"]
    counts = {s: 0 for s in STATUS_ORDER}
    for h in hosts:
        counts[_bucket(h["status"])] += 1
    check_ids: list[str] = []
    for h in hosts:
        for c in h["checks"]:
            if c["id"] not in check_ids:
                check_ids.append(c["id"])
    latest = data["latest"]
    cards = "".join(
        f'<div class="card"><b id="count-{key}">{n}</b>{label}</div>'
        for key, n, label in (
            ("hosts", len(hosts), "hosts"),
            ("compliant", counts["compliant"], "compliant"),
            ("drift", counts["drift"], "drift"),
            ("unassessed", counts["unassessed"], "not assessed"),
            ("runs", len(runs), "audits in the window"),
        )
    )
    trend_rows = "".join(
        f"<tr><td>{_e(c)}</td>"
        + "".join(f"<td>{p['compliant']}/{p['compliant'] + p['drift']}</td>" for p in points[-10:])
        + "</tr>"
        for c, points in data["trend"].items()
    )
    trend_head = "".join(f"<th>{_e(r['started'][:10])}</th>" for r in runs[-10:])
    groups = "".join(
        f"<tr><td>{_e(g.get('kind', 'group'))} {_e(g['group'])}</td><td>{g['hosts']}</td><td>{g['compliant']}</td><td>{g['drift']}</td>"
        f"<td>{g['unassessed']}</td><td>{round(100 * g['bad_share'])}% "
        f'<span class="bar" style="width:{round(100 * g["bad_share"])}px"></span></td></tr>'
        for g in data["groups"][:15]
    )
    options = "".join(f'<option value="{s}">{s}</option>' for s in STATUS_ORDER)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>psfleet compliance: {_e(data["inventory"])}</title>
<style>{CSS}</style></head>
<body>
<header><h1>psfleet compliance report</h1>
<div>Inventory <b>{_e(data["inventory"])}</b>; latest audit run {latest["id"]} at {_e(latest["started"])}
by {_e(latest["operator"] or "unknown")}; {len(runs)} audits since {_e(data["since"] or "the first record")};
generated {_e(data["generated"])}.</div></header>
<main>
<section aria-labelledby="s-now"><h2 id="s-now">Latest audit</h2><div class="cards">{cards}</div></section>
<section aria-labelledby="s-trend"><h2 id="s-trend">Compliance per check over time</h2>
{_defs()}{trend_svg(runs, data["trend"])}
<details><summary>Data (compliant / assessed hosts, last 10 audits)</summary>
<table><thead><tr><th>Check</th>{trend_head}</tr></thead><tbody>{trend_rows}</tbody></table></details></section>
<section aria-labelledby="s-os"><h2 id="s-os">Fleet by OS build and status</h2>{os_svg(data["by_os"])}</section>
<section aria-labelledby="s-groups"><h2 id="s-groups">Worst sites and groups</h2>
<table id="groups"><thead><tr><th>Site or group</th><th>Hosts</th><th>Compliant</th><th>Drift</th><th>Not assessed</th>
<th>Not compliant</th></tr></thead><tbody>{groups}</tbody></table></section>
<section aria-labelledby="s-hosts"><h2 id="s-hosts">Hosts</h2>
<div class="controls"><label>Filter <input type="search" id="host-filter" placeholder="host, OS, group, value..."></label>
<label>Status <select id="status-filter"><option value="">any</option>{options}</select></label>
<span>showing <b id="shown-count">{len(hosts)}</b> of {len(hosts)} hosts</span></div>
{_host_table(hosts, check_ids, data.get("facts_url", facts_url))}
</section></main>
<script>{SCRIPT}</script>
</body></html>
"""
