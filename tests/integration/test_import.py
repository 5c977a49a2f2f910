"""`kim import persons FILE.csv` on a generated file with errors sprinkled in, on both databases: good rows
registered (and their cases opened by the running services), bad rows reported by row and field without their
values, every import audited, and a second run of the same file registers nobody twice."""
import csv
from datetime import date, timedelta

import pytest

from services.cli import main
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, poll

pytestmark = pytest.mark.integration
ROWS = 300
#: row index -> (column, bad value, the field the report must name)
BAD = {7: ("birth_date", "1990-02-30", "birth_date"), 19: ("municipality", "05962999", "municipality"),
       31: ("consent_case_management", "not a time", "consents.0.granted_at"),
       44: ("given_name", "   ", "given_name"), 58: ("family_name", "Evil\x1b[2JName", "family_name"),
       73: ("languages", "xx-not-a-code", "languages.0"), 88: ("residence_status", "tourist", "residence_status"),
       99: ("arrival_date", "2099-01-01", "arrival_date")}


def write_csv(path, rows=ROWS):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["given_name", "family_name", "birth_date", "municipality", "arrival_date",
                         "residence_status", "languages", "consent_case_management", "consent_basis"])
        for i in range(rows):
            row = {"given_name": f"Importa{i}", "family_name": "Testperson",
                   "birth_date": (date(1950, 1, 1) + timedelta(days=37 * i)).isoformat(),
                   "municipality": LUEDENSCHEID if i % 2 else MEINERZHAGEN, "arrival_date": "2026-09-01",
                   "residence_status": "temporary_protection", "languages": "uk;ru",
                   "consent_case_management": "2026-09-02T10:00:00Z", "consent_basis": "signed_form"}
            if i in BAD:
                row[BAD[i][0]] = BAD[i][1]
            writer.writerow(row.values())
    return path


@pytest.fixture
def databases(db_urls, monkeypatch):
    for service, url in db_urls.items():
        monkeypatch.setenv(f"KIM_{service.upper()}_DB_URL", url)
    return db_urls


def test_import_registers_the_good_rows_reports_the_bad_and_can_run_again(databases, start_stack, tmp_path,
                                                                          capsys):
    stack = start_stack(databases, services=("intake", "casework"))
    source = write_csv(tmp_path / "persons.csv")
    argv = ["import", "persons", str(source), "--municipality", LUEDENSCHEID, "--municipality", MEINERZHAGEN,
            "--actor", "import-test"]
    assert main(argv) == 1  # some rows failed
    good = ROWS - len(BAD)
    assert f"{ROWS} rows: {good} imported, 0 already imported, {len(BAD)} with errors" in capsys.readouterr().out
    assert stack.count("intake", "persons") == good
    poll(lambda: stack.count("casework", "cases") == good, timeout=20)  # the running relay published them

    with (tmp_path / "persons.csv.errors.csv").open(encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert {(int(r["row"]), r["field"]) for r in report} == {(i + 2, field) for i, (_, _, field) in BAD.items()}
    text = (tmp_path / "persons.csv.errors.csv").read_text()
    assert "\x1b" not in text and "1990-02-30" not in text and "tourist" not in text  # no values, no controls

    audit = stack.count("gateway", "audit_entries", "action = 'person.import' AND actor = 'import-test'")
    assert audit == good

    assert main(argv) == 1
    assert f"{ROWS} rows: 0 imported, {good} already imported, {len(BAD)} with errors" in capsys.readouterr().out
    assert stack.count("intake", "persons") == good and stack.count("intake", "outbox") == good


def test_a_town_the_operator_may_not_import_for_is_reported_per_row(sqlite_urls, monkeypatch, tmp_path, capsys):
    for service, url in sqlite_urls.items():
        monkeypatch.setenv(f"KIM_{service.upper()}_DB_URL", url)
    source = write_csv(tmp_path / "p.csv", rows=4)
    assert main(["import", "persons", str(source), "--municipality", LUEDENSCHEID]) == 1
    assert "4 rows: 2 imported, 0 already imported, 2 with errors" in capsys.readouterr().out
    assert main(["import", "persons", str(source), "--municipality", "99999999"]) == 2  # not a known town
