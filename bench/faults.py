"""`make faults`: the fault suite (tests/faults) with its long cases (a 60 s RabbitMQ outage), then its figures
as the table in docs/reliability.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("case", "database", "outage_seconds", "registrations", "answered_201", "answered_503", "dropped",
           "lost", "doubled", "not_in_analytics", "seconds_to_last_case")


def main() -> int:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as report:
        path = report.name
    env = {**os.environ, "KIM_FAULTS_LONG": "1", "KIM_FAULTS_REPORT": path}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/faults", *sys.argv[1:]], cwd=ROOT, env=env)
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    os.unlink(path)
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        row["database"] = "postgresql" if "postgres" in row["test"] else "sqlite"
        print("| " + " | ".join("" if row.get(c) is None else str(row[c]) for c in COLUMNS) + " |")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
