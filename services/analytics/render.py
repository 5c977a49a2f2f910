"""The report for people (a steering group, Steuerungsgruppe): one self-contained HTML page with inline SVG
charts (barrier ranking, referral funnel, case-manager workload); no external assets, no script. Suppressed
figures show as "•" with a note, never as a number. German by default, English on request; codes are named by
services/shared/labels.py (barriers by their catalogue)."""
from __future__ import annotations

from html import escape

from services.shared.labels import label
from services.shared.municipalities import MUNICIPALITIES

BAR_WIDTH = 170
LABEL_WIDTH = 300  # px for a chart row's name: about 48 characters
ROW = 22

TEXTS = {
    "de": {
        "title": "Integrationshürden, Vermittlungen und Fallbelastung", "document": "KIM-Auswertung: {period}",
        "compared": "verglichen mit {period}", "open_cases": "Offene Fälle am Ende des Zeitraums: {n}.",
        "ranking": "Rangfolge der Hürden: Häufigkeit je 100 offene Fälle",
        "ranking_row": "{per_100} je 100; Median {median} Tage; Veränderung {change}",
        "funnel": "Vermittlungen: Verlauf (im Zeitraum versandt)",
        "workload": "Fallbelastung: offene Fälle gegen Kapazität", "of": "{n} von {capacity}",
        "no_data": "keine Daten im Zeitraum",
        "note": "• = gesperrt: weniger als {k} Personen, oder eine Zahl, aus der sich eine solche Zelle ableiten "
                "ließe (statistische Geheimhaltung). Alle Zahlen stammen aus pseudonymen Ereignissen.",
        "note_short": "* = gesperrt: weniger als {k} Personen oder daraus ableitbar. Nur pseudonyme Ereignisse.",
    },
    "en": {
        "title": "Integration barriers, referrals and workload", "document": "KIM analytics: {period}",
        "compared": "compared with {period}", "open_cases": "Open cases at the end of the period: {n}.",
        "ranking": "Barrier ranking: prevalence per 100 open cases",
        "ranking_row": "{per_100} per 100; median {median} days; change {change}",
        "funnel": "Referral funnel (referrals sent in the period)",
        "workload": "Case-manager workload: open cases against capacity", "of": "{n} of {capacity}",
        "no_data": "no data in this period",
        "note": "• = suppressed: fewer than {k} people, or a figure from which such a cell could be derived "
                "(statistical disclosure control). Figures come from pseudonymous events only.",
        "note_short": "* = suppressed: fewer than {k} people, or derivable from such a cell. Pseudonymous events only.",
    },
}


def _v(c, language: str) -> str:
    if c is None:
        return "–"
    if c.get("suppressed"):
        return "•"
    if c.get("value") is None:
        return "–"
    if isinstance(c["value"], float):  # German writes a decimal comma
        return f"{c['value']:g}".replace(".", ",") if language == "de" else f"{c['value']:g}"
    return str(c["value"])


def _content(barriers: dict, referrals: dict, caseload: dict, language: str, workload_rows: int) -> dict:
    """What both formats show, in `language`: the heading lines and the three charts' rows (label, value or None
    when suppressed, the text shown)."""
    text = TEXTS[language]
    ranking = [(label(r["code"], language), r["per_100_open_cases"]["value"],
                text["ranking_row"].format(
                    per_100=_v(r["per_100_open_cases"], language), median=_v(r["median_days_unresolved"], language),
                    change=_v(r["change"]["per_100_open_cases"], language)))
               for r in barriers["ranking"][:12]]
    totals = referrals["funnel"].get("total", {})
    funnel = [(label(stage, language), totals[stage]["value"], _v(totals[stage], language))
              for stage in referrals["funnel"]["columns"]]
    workload = [(m["username"] or m["case_manager_id"], m["open_cases"]["value"],
                 text["of"].format(n=_v(m["open_cases"], language),
                                   capacity=m["capacity"] if m["capacity"] is not None else "?"))
                for m in caseload["case_managers"][:workload_rows]]
    return {"towns": ", ".join(f"{MUNICIPALITIES.get(m, m)} ({m})" for m in barriers["municipalities"]),
            "period": f'{barriers["from"]} – {barriers["to"]}',
            "previous": f'{barriers["previous_period"]["from"]} – {barriers["previous_period"]["to"]}',
            "charts": [(text["ranking"], ranking), (text["funnel"], funnel), (text["workload"], workload)]}


def _short(name: str, most: int) -> str:
    return name if len(name) <= most else name[:most - 1] + "…"


def _bars(title: str, items: list[tuple[str, float | None, str]], empty: str) -> str:
    """Horizontal bars: (label, value or None when suppressed, the text shown)."""
    top = max([v for _, v, _ in items if v is not None] or [1]) or 1
    height = ROW * max(len(items), 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="780" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, (name, value, shown) in enumerate(items):
        y = 5 + i * ROW
        width = 0 if value is None else max(1, int(BAR_WIDTH * value / top))
        parts.append(f'<text x="0" y="{y + 14}" font-size="12"><title>{escape(name)}</title>{escape(_short(name, 48))}'
                     f'</text><rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="14" fill="#2b6cb0"/>'
                     f'<text x="{LABEL_WIDTH + 6 + width}" y="{y + 14}" font-size="12">{escape(shown)}</text>')
    if not items:
        parts.append(f'<text x="0" y="15" font-size="12">{escape(empty)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(barriers: dict, referrals: dict, caseload: dict, cases: dict, language: str = "de") -> str:
    text = TEXTS[language]
    content = _content(barriers, referrals, caseload, language, workload_rows=20)
    phases = cases["tables"]["open_by_phase"]
    open_total = phases.get("total", {})
    open_cell = open_total.get("total") or (open_total.get(barriers["municipalities"][0]) if open_total else None)
    charts = "\n".join(f"<h2>{escape(title)}</h2>\n{_bars(title, rows, text['no_data'])}"
                       for title, rows in content["charts"])
    return f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="utf-8">
<title>{escape(text["document"].format(period=content["period"]))}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:780px}}h1{{font-size:20px}}h2{{font-size:15px;
margin:14px 0 4px}}p{{font-size:12px;margin:2px 0}}@page{{size:A4;margin:12mm}}</style></head><body>
<h1>{escape(text["title"])}</h1>
<p><b>{escape(content["towns"])}</b>, {escape(content["period"])}
({escape(text["compared"].format(period=content["previous"]))}).
{escape(text["open_cases"].format(n=_v(open_cell, language)))}</p>
{charts}
<p>{escape(text["note"].format(k=barriers["min_cell"]))}</p>
</body></html>
"""


# PDF: a small writer of its own (PDF 1.4, the standard Helvetica font, no images): no heavy dependency ---------

def _pdf_text(text: str) -> str:
    raw = text.replace("–", "-").replace("•", "*").replace("…", "...").encode("latin-1", "replace").decode("latin-1")
    return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf_bars(ops: list, y: float, title: str, items: list, empty: str, left: float = 40) -> float:
    ops.append(f"BT /F2 11 Tf {left} {y} Td ({_pdf_text(title)}) Tj ET")
    y -= 16
    top = max([v for _, v, _ in items if v is not None] or [1]) or 1
    for name, value, shown in items or [(empty, None, "")]:
        width = 0 if value is None else max(1.0, 150 * value / top)
        ops.append(f"BT /F1 8 Tf {left} {y} Td ({_pdf_text(_short(name, 44))}) Tj ET")
        ops.append(f"0.17 0.42 0.69 rg {left + 190} {y - 1} {width:.1f} 9 re f 0 0 0 rg")
        ops.append(f"BT /F1 8 Tf {left + 196 + width:.1f} {y} Td ({_pdf_text(shown)}) Tj ET")
        y -= 12
    return y - 10


def pdf_report(barriers: dict, referrals: dict, caseload: dict, cases: dict, language: str = "de") -> bytes:
    """The same content as html_report on one A4 page."""
    text = TEXTS[language]
    content = _content(barriers, referrals, caseload, language, workload_rows=16)
    ops = [f"BT /F2 15 Tf 40 800 Td ({_pdf_text(text['title'])}) Tj ET",
           f"BT /F1 9 Tf 40 784 Td ({_pdf_text(content['towns'][:110])}) Tj ET",
           f"BT /F1 9 Tf 40 772 Td ({_pdf_text(content['period'])}, "
           f"{_pdf_text(text['compared'].format(period=content['previous']))}) Tj ET"]
    y = 745
    for title, rows in content["charts"]:
        y = _pdf_bars(ops, y, title, rows, text["no_data"])
    ops.append(f"BT /F1 7 Tf 40 {max(y, 30)} Td ({_pdf_text(text['note_short'].format(k=barriers['min_cell']))}) Tj ET")
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
