"""The report for people (a steering group, Steuerungsgruppe): one self-contained HTML page with inline SVG
charts (barrier ranking, referral funnel, case-manager workload); no external assets, no script. Suppressed
figures show as "•" with a note, never as a number."""
from __future__ import annotations

from html import escape

from services.shared.municipalities import MUNICIPALITIES

BAR_WIDTH = 320
ROW = 22


def _v(c) -> str:
    if c is None:
        return "–"
    if c.get("suppressed"):
        return "•"
    return "–" if c.get("value") is None else f"{c['value']:g}" if isinstance(c["value"], float) else str(c["value"])


def _bars(title: str, items: list[tuple[str, float | None, str]], unit: str = "") -> str:
    """Horizontal bars: (label, value or None when suppressed, the text shown)."""
    top = max([v for _, v, _ in items if v is not None] or [1]) or 1
    height = ROW * max(len(items), 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="620" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, (label, value, text) in enumerate(items):
        y = 5 + i * ROW
        width = 0 if value is None else max(1, int(BAR_WIDTH * value / top))
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(label[:38])}</text>'
                     f'<rect x="240" y="{y + 3}" width="{width}" height="14" fill="#2b6cb0"/>'
                     f'<text x="{246 + width}" y="{y + 14}" font-size="12">{escape(text)}{escape(unit)}</text>')
    if not items:
        parts.append('<text x="0" y="15" font-size="12">no data in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(barriers: dict, referrals: dict, caseload: dict, cases: dict) -> str:
    towns = ", ".join(f"{MUNICIPALITIES.get(m, m)} ({m})" for m in barriers["municipalities"])
    period = f'{barriers["from"]} – {barriers["to"]}'
    ranking = [(r["code"], r["per_100_open_cases"]["value"],
                f'{_v(r["per_100_open_cases"])} per 100 open cases; median {_v(r["median_days_unresolved"])} days; '
                f'change {_v(r["change"]["per_100_open_cases"])}') for r in barriers["ranking"][:12]]
    totals = referrals["funnel"].get("total", {})
    funnel = [(stage, totals[stage]["value"], _v(totals[stage])) for stage in referrals["funnel"]["columns"]]
    workload = [(m["username"] or m["case_manager_id"], m["open_cases"]["value"],
                 f'{_v(m["open_cases"])} of {m["capacity"] if m["capacity"] is not None else "?"}')
                for m in caseload["case_managers"][:20]]
    phases = cases["tables"]["open_by_phase"]
    open_total = phases.get("total", {})
    open_cell = open_total.get("total") or (open_total.get(barriers["municipalities"][0]) if open_total else None)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>KIM analytics: {escape(period)}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:780px}}h1{{font-size:20px}}h2{{font-size:15px;
margin:14px 0 4px}}p{{font-size:12px;margin:2px 0}}@page{{size:A4;margin:12mm}}</style></head><body>
<h1>Integration barriers, referrals and workload</h1>
<p><b>{escape(towns)}</b>, {escape(period)} (compared with {escape(barriers["previous_period"]["from"])} –
{escape(barriers["previous_period"]["to"])}). Open cases at the end of the period: {escape(_v(open_cell))}.</p>
<h2>Barrier ranking: prevalence per 100 open cases</h2>
{_bars("barrier ranking", ranking)}
<h2>Referral funnel (referrals sent in the period)</h2>
{_bars("referral funnel", funnel)}
<h2>Case-manager workload: open cases against capacity</h2>
{_bars("workload", workload)}
<p>• = suppressed: fewer than {barriers["min_cell"]} people, or a figure from which such a cell could be
derived (statistical disclosure control). Figures come from pseudonymous events only.</p>
</body></html>
"""


# PDF: a small writer of its own (PDF 1.4, the standard Helvetica font, no images): no heavy dependency ---------

def _pdf_text(text: str) -> str:
    raw = text.encode("latin-1", "replace").decode("latin-1")
    return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf_bars(ops: list, y: float, title: str, items: list, left: float = 40) -> float:
    ops.append(f"BT /F2 11 Tf {left} {y} Td ({_pdf_text(title)}) Tj ET")
    y -= 16
    top = max([v for _, v, _ in items if v is not None] or [1]) or 1
    for label, value, text in items or [("no data in this period", None, "")]:
        width = 0 if value is None else max(1.0, 220 * value / top)
        ops.append(f"BT /F1 8 Tf {left} {y} Td ({_pdf_text(label[:40])}) Tj ET")
        ops.append(f"0.17 0.42 0.69 rg {left + 170} {y - 1} {width:.1f} 9 re f 0 0 0 rg")
        ops.append(f"BT /F1 8 Tf {left + 176 + width:.1f} {y} Td ({_pdf_text(text)}) Tj ET")
        y -= 12
    return y - 10


def pdf_report(barriers: dict, referrals: dict, caseload: dict, cases: dict) -> bytes:
    """The same content as html_report on one A4 page."""
    towns = ", ".join(f"{MUNICIPALITIES.get(m, m)} ({m})" for m in barriers["municipalities"])
    ops = ["BT /F2 15 Tf 40 800 Td (Integration barriers, referrals and workload) Tj ET",
           f"BT /F1 9 Tf 40 784 Td ({_pdf_text(towns[:110])}) Tj ET",
           f"BT /F1 9 Tf 40 772 Td ({_pdf_text(barriers['from'] + ' - ' + barriers['to'])}, compared with "
           f"{_pdf_text(barriers['previous_period']['from'] + ' - ' + barriers['previous_period']['to'])}) Tj ET"]
    ranking = [(r["code"], r["per_100_open_cases"]["value"],
                f'{_v(r["per_100_open_cases"])} per 100; median {_v(r["median_days_unresolved"])} d; change '
                f'{_v(r["change"]["per_100_open_cases"])}'.replace("•", "*").replace("–", "-"))
               for r in barriers["ranking"][:12]]
    totals = referrals["funnel"].get("total", {})
    funnel = [(s, totals[s]["value"], _v(totals[s]).replace("•", "*")) for s in referrals["funnel"]["columns"]]
    workload = [(m["username"] or m["case_manager_id"], m["open_cases"]["value"],
                 f'{_v(m["open_cases"])} of {m["capacity"] if m["capacity"] is not None else "?"}'.replace("•", "*"))
                for m in caseload["case_managers"][:16]]
    y = _pdf_bars(ops, 745, "Barrier ranking: prevalence per 100 open cases", ranking)
    y = _pdf_bars(ops, y, "Referral funnel (referrals sent in the period)", funnel)
    y = _pdf_bars(ops, y, "Case-manager workload: open cases against capacity", workload)
    ops.append(f"BT /F1 7 Tf 40 {max(y, 30)} Td (* = suppressed: fewer than {barriers['min_cell']} people, or "
               f"derivable from such a cell. Pseudonymous events only.) Tj ET")
    stream = "\n".join(ops).encode("latin-1", "replace")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
