"""The operator's analytics commands (wired into `kim` in services/cli.py):

    kim analytics rebuild                      recompute every projection from the event archive
    kim report --municipality AGS --period 2026-Q3 --out FILE.html|FILE.pdf
    kim rollup add|remove|restart|status --from-vhost V --to-vhost D   the district roll-up's shovels
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from services.shared.labels import LANGUAGES
from services.shared.settings import Settings


def add_parsers(sub) -> None:
    analytics = sub.add_parser("analytics", help="analytics maintenance")
    actions = analytics.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="recompute every projection from the event archive (with a progress bar)")
    analytics.set_defaults(func=cmd_analytics)
    report = sub.add_parser("report", help="write the one-page report for a steering group (HTML or PDF)")
    report.add_argument("--municipality", action="append",
                        help="AGS code; repeat for more; default every municipality of this instance (and their sum)")
    report.add_argument("--period", required=True, help="2026-Q3, 2026-07 or 2026")
    report.add_argument("--out", required=True, help="FILE.html or FILE.pdf")
    report.add_argument("--lang", choices=LANGUAGES, default="de", help="the report's language (default de)")
    report.set_defaults(func=cmd_report)
    rollup = sub.add_parser("rollup", help="the district roll-up: shovels from a municipal vhost to the district's")
    rollup.add_argument("action", choices=["add", "remove", "restart", "status"])
    rollup.add_argument("--from-vhost", required=True, help="the municipal instance's vhost")
    rollup.add_argument("--to-vhost", required=True, help="the district instance's vhost")
    rollup.set_defaults(func=cmd_rollup)


def cmd_analytics(args) -> int:
    from services.intake.importer import ProgressBar
    from services.shared.db import make_engine
    from services.shared.migrations import upgrade

    from . import projections

    settings = Settings.load()
    url = settings.db_url("analytics")
    upgrade("analytics", url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            from sqlalchemy import func, select
            total = conn.execute(select(func.count()).select_from(projections.ARCHIVE)).scalar_one()
        started = time.monotonic()
        bar = ProgressBar(total)
        replayed = projections.rebuild(engine, progress=lambda done: bar(done))
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    print(f"rebuilt the projections from {replayed} archived events in {seconds:.1f} s")
    return 0


def cmd_report(args) -> int:
    from services.shared.db import make_engine
    from services.shared.municipalities import validate_ags_list

    from .disclosure import check_min_cell
    from .render import html_report, pdf_report
    from .reports import Reports, parse_period

    settings = Settings.load()
    k = check_min_cell(settings.analytics_min_cell)
    munis = args.municipality or list(settings.municipalities)
    validate_ags_list(munis, "--municipality")
    start, end = parse_period(args.period)
    out = Path(args.out)
    engine = make_engine(settings.db_url("analytics"))
    try:
        with engine.connect() as conn:
            parts = [Reports(conn, munis, start, end, k).build(name)
                     for name in ("barriers", "referrals", "caseload", "cases")]
    finally:
        engine.dispose()
    if out.suffix.lower() == ".pdf":
        out.write_bytes(pdf_report(*parts, language=args.lang))
    else:
        out.write_text(html_report(*parts, language=args.lang), encoding="utf-8")
    print(f"wrote {out} ({', '.join(munis)}, {start} - {end})")
    return 0


def cmd_rollup(args) -> int:
    from . import rollup

    settings = Settings.load()
    try:
        if args.action == "add":
            for name in rollup.add(settings, args.from_vhost, args.to_vhost):
                print(f"shovel {name}")
        elif args.action == "remove":
            rollup.remove(settings, args.from_vhost, args.to_vhost)
        elif args.action == "restart":
            rollup.restart(settings, args.from_vhost, args.to_vhost)
        else:
            for shovel in rollup.status(settings, args.from_vhost):
                print(f"{shovel['name']}: {shovel['state']}")
    except (RuntimeError, OSError) as exc:
        print(f"kim rollup: {exc}", file=sys.stderr)
        return 1
    return 0
