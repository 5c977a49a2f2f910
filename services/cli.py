"""`kim`: the operator's command.

    kim up         migrate, start every service and the gateway (each its own process), print the URL
    kim run NAME   run one service in this process (what `kim up` and the deploy manifests start)
    kim migrate    bring every service's database to the newest schema
    kim token      print a development token the running gateway accepts
    kim health N   exit 0 when service N answers (the containers' health check)
    kim import persons FILE.csv --municipality AGS   register the persons of a spreadsheet (re-runnable)
    kim analytics rebuild   recompute analytics' projections from its event archive
    kim report --municipality AGS --period 2026-Q3 --out FILE.html|.pdf   the steering group's one-page report
    kim rollup add --from-vhost V --to-vhost D   shovel a municipal instance's events to the district's analytics
    kim import offers FILE.json    load an Open Referral HSDS 3.0 catalogue (re-runnable)
    kim export offers              print the offer catalogue as HSDS 3.0 JSON
    kim partners add PROVIDER_ID   a RabbitMQ user for a partner's own referral events (prints JSON)
    kim referrals expire           expire unanswered referrals now (the referrals service's timer does it too)
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # first: nameko, kombu and psycopg2 must see the patched sockets

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from importlib import import_module  # noqa: E402

from services.shared.migrations import SERVICE_PACKAGES  # noqa: E402
from services.shared.settings import SECRET_FILE, Settings  # noqa: E402

#: what `kim up` starts, in order; the gateway last, so its /ready sees the others
PROCESSES = ("intake", "casework", "referrals", "analytics", "gateway")
SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "casework": "services.casework.service:CaseworkService",
    "referrals": "services.referrals.service:ReferralsService",
    "analytics": "services.analytics.service:AnalyticsService",
    "gateway": "gateway.service:GatewayService",
}
MIGRATED = tuple(SERVICE_PACKAGES)  # each has its own database
STOP_SECONDS = 10


def service_class(name: str):
    module, _, attr = SERVICE_CLASSES[name].partition(":")
    return getattr(import_module(module), attr)


def container_config(name: str, settings: Settings) -> dict:
    config = {"AMQP_URI": settings.amqp_uri, "serializer": "json",
              "max_workers": settings.max_workers}
    if name == "gateway":
        config["WEB_SERVER_ADDRESS"] = settings.gateway_address
    return config


def cmd_run(args) -> int:
    from nameko.containers import ServiceContainer

    from services.shared.logs import configure_logging

    settings = Settings.load()
    configure_logging(args.name, settings.log_level)
    container = ServiceContainer(service_class(args.name), container_config(args.name, settings))

    def stop():
        try:
            with eventlet.Timeout(STOP_SECONDS):
                container.stop()  # lets running workers finish
        except eventlet.Timeout:  # e.g. the broker is gone and a consumer keeps reconnecting
            container.kill()

    def shutdown(signum, frame):
        eventlet.spawn_n(stop)

    def watch_supervisor(pid: int):
        while os.getppid() == pid:  # `kim up` died without stopping us: do not linger as an orphan
            eventlet.sleep(1)
        stop()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    container.start()
    # what start-up built (modules, schemas, compiled statements) lives as long as the process: keep the
    # collector from rescanning it in every full collection (about 50 ms each in a busy service)
    gc.collect()
    gc.freeze()
    if os.environ.get("KIM_SUPERVISOR_PID"):
        eventlet.spawn_n(watch_supervisor, int(os.environ["KIM_SUPERVISOR_PID"]))
    try:
        container.wait()
    except KeyboardInterrupt:
        container.stop()
    return 0


def cmd_migrate(args) -> int:
    from services.shared.migrations import upgrade

    for name in args.services or MIGRATED:
        upgrade(name)
        print(f"{name}: database at the newest schema")
    return 0


def cmd_token(args) -> int:
    from services.shared.auth import issue_token

    settings = Settings.load()
    if not settings.jwt_secret:
        print("no KIM_JWT_SECRET set and no development secret in KIM_DATA_DIR: run `kim up` first",
              file=sys.stderr)
        return 2
    print(issue_token(settings, sub=args.sub or f"dev-{args.role}", role=args.role,
                      municipalities=args.municipality, ttl=args.ttl, team=args.team,
                      provider_id=args.provider_id))
    return 0


def cmd_dlq(args) -> int:
    from services.shared import dlq

    try:
        return dlq.command(Settings.load(), args, sys.stdout)
    except OSError as exc:  # the broker or a database does not answer
        print(f"kim dlq: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def cmd_health(args) -> int:
    settings = Settings.load()
    try:
        if args.name == "gateway":
            port = settings.gateway_address.rpartition(":")[2]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{args.path}", timeout=5):
                pass  # a 4xx/5xx raises
        else:  # any replica's health RPC: the service, its database and its queue work
            from nameko.standalone.rpc import ClusterRpcProxy

            with ClusterRpcProxy({"AMQP_URI": settings.amqp_uri, "serializer": "json"}, timeout=5) as rpc:
                getattr(rpc, args.name).health()
    except Exception as exc:
        print(f"{args.name} unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _ensure_secret(settings: Settings) -> None:
    if os.environ.get("KIM_JWT_SECRET"):
        return
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        print(f"generated a development JWT secret in {path}")


def _check_broker(settings: Settings) -> None:
    from services.shared.messaging import check_broker

    try:
        check_broker(settings.amqp_uri, timeout=3)
    except Exception as exc:
        raise SystemExit(f"RabbitMQ at {settings.amqp_uri} does not answer ({exc}); start it "
                         f"(`rabbitmq-server -detached`) or set AMQP_URI")


def _wait_ready(url: str, supervisor, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check()  # a service that dies while starting is restarted; one that cannot start, raises
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=3) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the system did not become ready within {timeout:.0f}s ({url}/ready)")


def _stop(procs: list) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmd_up(args) -> int:
    from services.supervisor import GaveUp, Supervisor

    settings = Settings.load()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_secret(settings)
    _check_broker(settings)
    cmd_migrate(argparse.Namespace(services=None))
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    # the web app's development sign-in: only without a real issuer, and only with kim up's own secret
    dev_signin = not os.environ.get("KIM_OIDC_ISSUER") and not os.environ.get("KIM_JWT_SECRET")

    def spawn(name):
        env = {**os.environ, "KIM_SUPERVISOR_PID": str(os.getpid())}
        if name == "gateway" and dev_signin:
            env["KIM_DEV_SIGNIN"] = "1"
        return subprocess.Popen([sys.executable, "-m", "services.cli", "run", name], start_new_session=True,
                                env=env)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = f"http://{settings.gateway_address}"
    supervisor = Supervisor(PROCESSES, spawn, say=lambda line: print(f"kim up: {line}", file=sys.stderr, flush=True))
    try:
        supervisor.start()
        _wait_ready(url, supervisor, args.timeout)
        print(f"KIM is up: {url}  (API documentation: {url}/docs)", flush=True)
        print(f"the web app: {url}/app/" + ("  (development sign-in)" if dev_signin else ""), flush=True)
        print("a token for trying it: kim token --role case_manager --municipality 05962032", flush=True)
        while not stopping:
            supervisor.check()
            time.sleep(0.5)
        print("stopping", flush=True)
        return 0
    except GaveUp as exc:
        print(f"kim up: {exc}; stopping", file=sys.stderr, flush=True)
        return 1
    finally:
        _stop(supervisor.processes())


def _referrals_transactions(settings: Settings):
    from services.referrals.models import metadata as referrals_metadata
    from services.shared.db import Transactions, make_engine
    from services.shared.migrations import upgrade

    upgrade("referrals")
    engine = make_engine(settings.db_url("referrals"))
    return engine, Transactions(engine, "referrals", referrals_metadata)


def cmd_import_offers(args) -> int:
    """Load an HSDS 3.0 document (a service, a list, or a page with `contents`); each service in its own
    transaction, the failures listed with their fields."""
    import json
    from pathlib import Path

    from services.referrals import hsds

    engine, transactions = _referrals_transactions(Settings.load())
    try:
        summary = hsds.import_document(transactions, json.loads(Path(args.file).read_text(encoding="utf-8")))
    finally:
        engine.dispose()
    print(json.dumps(summary.as_dict(), indent=2))
    return 0 if summary.failed == 0 else 1


def cmd_export(args) -> int:
    import json

    from services.referrals import hsds

    engine, transactions = _referrals_transactions(Settings.load())
    try:
        with transactions() as uow:
            page = hsds.export_page(uow.connection, 1, 10 ** 9)
    finally:
        engine.dispose()
    text = json.dumps(page, indent=2, ensure_ascii=False, default=str)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


def cmd_partners(args) -> int:
    import json

    from services.referrals import partners

    settings = Settings.load()
    try:
        if args.action == "add":
            print(json.dumps(partners.add_partner(settings, args.provider_id), indent=2))
        else:
            partners.remove_partner(settings, args.provider_id)
            print(f"partner user {partners.username(args.provider_id)} removed")
    except (OSError, RuntimeError) as exc:
        print(f"kim partners: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_referrals(args) -> int:
    from services.referrals.service import expire_due

    settings = Settings.load()
    engine, transactions = _referrals_transactions(settings)
    try:
        expired = expire_due(transactions, settings.referral_expiry_days)
    finally:
        engine.dispose()
    print(f"{expired} referral(s) expired (unanswered for {settings.referral_expiry_days:g} days)")
    return 0


def cmd_import(args) -> int:
    """Import persons from a CSV file (services/intake/importer.py); each imported person is audited."""
    if args.kind == "offers":
        return cmd_import_offers(args)
    if not args.municipality:
        raise ValueError("kim import persons needs --municipality")
    import getpass
    import uuid
    from datetime import datetime, timezone
    from pathlib import Path

    from sqlalchemy import insert

    from gateway.models import AuditEntry
    from services.intake import importer
    from services.intake.models import metadata as intake_metadata
    from services.shared.auth import caller_from_claims
    from services.shared.db import Transactions, make_autocommit_engine, make_engine
    from services.shared.errors import KimError
    from services.shared.migrations import upgrade

    settings = Settings.load()
    path = Path(args.file)
    actor = args.actor or f"import-{getpass.getuser()}"
    try:
        caller = caller_from_claims({"sub": actor, "role": "intake_officer", "municipalities": args.municipality})
    except KimError as exc:
        raise ValueError(f"{exc.detail} (--municipality, --actor)") from None
    for name in ("intake", "gateway"):
        upgrade(name)
    rows = list(importer.read_rows(path))
    intake_url = settings.db_url("intake")
    intake_engine, gateway_engine = make_engine(intake_url), make_engine(settings.db_url("gateway"))
    autocommit = make_autocommit_engine(intake_url)
    transactions = Transactions(intake_engine, "intake", intake_metadata, autocommit_engine=autocommit)
    run_id, audit = uuid.uuid4().hex, []

    def flush_audit():
        if audit:
            with gateway_engine.begin() as connection:
                connection.execute(insert(AuditEntry.__table__), audit)
            audit.clear()

    def audited(person):
        audit.append(dict(at=datetime.now(timezone.utc), actor=actor, role=caller.role.value,
                          action="person.import", purpose="case_management", person_id=person["id"],
                          case_id=None, municipality=person["municipality"], request_id=f"import-{run_id}",
                          server_request_id=uuid.uuid4().hex, status=201))
        if len(audit) >= 200:
            flush_audit()
    try:
        summary = importer.import_persons(rows, transactions, caller, settings.municipalities, on_created=audited,
                                          progress=importer.ProgressBar(len(rows)))
    finally:  # also when the import stops on an error (a database gone): what was imported is audited
        flush_audit()
        for engine in (intake_engine, gateway_engine, autocommit):
            if engine is not None:
                engine.dispose()
    report = Path(args.report or f"{path}.errors.csv")
    importer.write_report(summary, report)
    print(f"{summary.rows} rows: {summary.imported} imported, {summary.already_imported} already imported, "
          f"{summary.failed} with errors ({len(summary.errors)} listed in {report}); {summary.seconds} s")
    if summary.interrupted:
        print(f"interrupted: {summary.imported} person(s) imported and audited; run the same file again for the "
              "rest (rows already imported are skipped)", file=sys.stderr)
        return 130
    return 0 if summary.failed == 0 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole system on this machine")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for readiness")
    up.set_defaults(func=cmd_up)
    run = sub.add_parser("run", help="run one service")
    run.add_argument("name", choices=sorted(SERVICE_CLASSES))
    run.set_defaults(func=cmd_run)
    migrate = sub.add_parser("migrate", help="migrate the databases")
    migrate.add_argument("services", nargs="*", help=f"some of {', '.join(MIGRATED)}; default all")
    migrate.set_defaults(func=cmd_migrate)
    health = sub.add_parser("health", help="exit 0 when a service answers")
    health.add_argument("name", choices=sorted(SERVICE_CLASSES))
    health.add_argument("path", nargs="?", default="/ready", help="gateway only: the path to GET")
    health.set_defaults(func=cmd_health)
    imports = sub.add_parser("import", help="import records from a file")
    imports.add_argument("kind", choices=["persons", "offers"])
    imports.add_argument("file", help="CSV with a header line naming the columns given_name, family_name, "
                                      "birth_date (YYYY-MM-DD, or YYYY if only the year is known), municipality, arrival_date, residence_status, languages "
                                      "(';'-separated), consent_case_management (when granted), consent_basis")
    imports.add_argument("--municipality", action="append",
                         help="persons: AGS code the import may register persons for; repeat for more")
    imports.add_argument("--actor", help="who imports (audited); default import-<OS user>")
    imports.add_argument("--report", help="where the per-row error report goes; default FILE.errors.csv")
    imports.set_defaults(func=cmd_import)
    token = sub.add_parser("token", help="print a development token")
    token.add_argument("--role", required=True)
    token.add_argument("--municipality", action="append", required=True, help="AGS code; repeat for more")
    token.add_argument("--sub", help="subject (staff id); default dev-<role>")
    token.add_argument("--team")
    token.add_argument("--provider", "--provider-id", dest="provider_id",
                       help="partner tokens: the provider id (claim provider_id)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds")
    token.set_defaults(func=cmd_token)
    dlq = sub.add_parser("dlq", help="list, show, replay or drop dead letters (the kim.dead-letters queue)")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    dlq_actions.add_parser("list", help="one line per dead letter; removes nothing")
    dlq_show = dlq_actions.add_parser("show", help="one dead letter in full (headers and envelope)")
    dlq_show.add_argument("id", help="position (from list) or event id")
    dlq_replay = dlq_actions.add_parser("replay", help="re-publish through the producer's outbox, record, remove")
    dlq_replay.add_argument("id", nargs="?", help="position (from list) or event id")
    dlq_replay.add_argument("--all", action="store_true", help="every dead letter that is a valid envelope")
    dlq_replay.add_argument("--reason", default="", help="recorded in the consumer's dead_letter_log")
    dlq_drop = dlq_actions.add_parser("drop", help="record and remove one dead letter")
    dlq_drop.add_argument("id", help="position (from list) or event id")
    dlq_drop.add_argument("--reason", required=True, help="why it is dropped (recorded)")
    for action in (dlq_replay, dlq_drop):
        action.add_argument("--actor", help="who does it (recorded); default the OS user")
    dlq.set_defaults(func=cmd_dlq)
    export = sub.add_parser("export", help="export records")
    export.add_argument("kind", choices=["offers"])
    export.add_argument("--output", help="file to write; default standard output")
    export.set_defaults(func=cmd_export)
    partner = sub.add_parser("partners", help="RabbitMQ users for partners' own referral events")
    partner.add_argument("action", choices=["add", "remove"])
    partner.add_argument("provider_id")
    partner.set_defaults(func=cmd_partners)
    referral = sub.add_parser("referrals", help="referral maintenance")
    referral.add_argument("action", choices=["expire"])
    referral.set_defaults(func=cmd_referrals)
    from services.analytics.commands import add_parsers as add_analytics_parsers

    add_analytics_parsers(sub)  # kim analytics rebuild, kim report, kim rollup
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"kim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
