"""`kim import persons` of a generated 10,000-row CSV (1 % bad rows), on SQLite or PostgreSQL (KIM_BENCH_DB):
the wall time of the import and of a second run of the same file (every row then already imported).
Target: < 60 s for 10,000 rows on 2 cores."""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import BENCH_DB, KIM, MUNICIPALITY, check, databases, log, table


def write_rows(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["given_name", "family_name", "birth_date", "municipality", "arrival_date",
                         "residence_status", "languages", "consent_case_management", "consent_basis"])
        for i in range(rows):
            birth = (date(1940, 1, 1) + timedelta(days=3 * i)).isoformat()
            writer.writerow([f"Bench{i}", "Importperson", birth if i % 100 else "1990-02-30", MUNICIPALITY,
                             "2026-09-01", "temporary_protection", "uk;ru", "2026-09-02T10:00:00Z", "signed_form"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kim-bench-import-") as folder, databases() as urls:
        source = Path(folder) / "persons.csv"
        write_rows(source, args.rows)
        env = {k: v for k, v in os.environ.items() if not (k.startswith("KIM_") and k.endswith("_DB_URL"))}
        env.update(KIM_DATA_DIR=folder, **{f"KIM_{s.upper()}_DB_URL": url for s, url in urls.items()})
        timings = []
        for run in ("first run", "same file again"):
            log(f"import of {args.rows} rows on {BENCH_DB}: {run}")
            started = time.perf_counter()
            result = subprocess.run([KIM, "import", "persons", str(source), "--municipality", MUNICIPALITY],
                                    env=env, capture_output=True, text=True)
            timings.append((run, round(time.perf_counter() - started, 1), result.stdout.strip()))
    print(table([f"kim import persons, {args.rows} rows on {BENCH_DB}"] + [
        (run, f"{seconds} s", f"{'target < 60 s: ' + check(seconds < 60) + '; ' if run == 'first run' else ''}"
                              f"{summary}") for run, seconds, summary in timings]))


if __name__ == "__main__":
    main()
