"""`make test`: the whole suite in two pytest processes at once, one per core.

Most tests wait on a broker, a database or a browser rather than compute, so two sessions side by side take
little more than half the time of one. They share nothing: every test has its own vhost, databases, ports and
temporary folder, and each session here gets its own pytest base folder. The test files are dealt out by
their weight (WEIGHTS, seconds measured with `pytest --durations`), heaviest first, each to the lighter job so
far. Each job's output is printed whole when it ends; the exit status is the worst of them.

    .venv/bin/python tests/parallel.py [--jobs 2] [pytest arguments, e.g. -x or -k name]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: seconds per test file in one serial run (2026-12-07, rounded); a file not listed counts DEFAULT_WEIGHT
WEIGHTS: dict[str, float] = {
    "tests/faults/test_faults.py": 230,
    "tests/integration/test_running_system.py": 169,
    "tests/integration/test_authorisation_matrix.py": 99,
    "tests/browser/test_app.py": 93,
    "tests/integration/test_audit.py": 92,
    "tests/integration/test_import.py": 59,
    "tests/integration/test_bad_input.py": 55,
    "tests/security/test_adversarial.py": 37,
    "tests/unit/test_analytics.py": 27,
    "tests/integration/test_analytics.py": 25,
    "tests/integration/test_spine.py": 23,
    "tests/integration/test_person_record_and_households.py": 20,
    "tests/integration/test_idempotency.py": 19,
    "tests/integration/test_consents.py": 19,
    "tests/integration/test_outbox.py": 18,
    "tests/integration/test_publisher.py": 16,
    "tests/security/test_kim_up.py": 15,
    "tests/integration/test_gateway_conventions.py": 14,
    "tests/integration/test_case_cycle.py": 14,
    "tests/integration/test_referrals_cli.py": 13,
    "tests/integration/test_rollup.py": 11,
    "tests/integration/test_case_records.py": 10,
    "tests/security/test_tokens_and_inputs.py": 8,
    "tests/integration/test_dead_letters.py": 8,
    "tests/integration/test_duplicates.py": 7,
    "tests/unit/test_supervisor.py": 7,
    "tests/integration/test_partners.py": 6,
    "tests/unit/test_deploy.py": 5,
    "tests/integration/test_person_rectification.py": 5,
    "tests/integration/test_merge_and_link.py": 5,
    "tests/integration/test_erasure.py": 5,
}
DEFAULT_WEIGHT = 2.0


def test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))


def deal(files: list[str], jobs: int) -> list[list[str]]:
    """Heaviest first, each file to the job with the least weight so far (longest processing time first)."""
    groups: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(jobs)]
    for name in sorted(files, key=lambda f: -WEIGHTS.get(f, DEFAULT_WEIGHT)):
        index = min(range(jobs), key=lambda i: groups[i][0])
        weight, members = groups[index]
        groups[index] = (weight + WEIGHTS.get(name, DEFAULT_WEIGHT), members + [name])
    return [sorted(members) for _, members in groups if members]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    args, pytest_args = parser.parse_known_args(argv)
    groups = deal(test_files(), max(args.jobs, 1))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kim-tests-") as folder:
        running = []
        for number, files in enumerate(groups, start=1):
            log = open(Path(folder) / f"job{number}.log", "w+")
            command = [sys.executable, "-m", "pytest", f"--basetemp={folder}/tmp{number}", *pytest_args, *files]
            running.append((number, files, log, subprocess.Popen(command, cwd=ROOT, stdout=log,
                                                                  stderr=subprocess.STDOUT)))
            print(f"job {number}: {len(files)} test files", flush=True)
        codes = []
        for number, files, log, proc in running:
            code = proc.wait()
            codes.append(code if code >= 0 else 128 - code)  # killed by a signal (-9): a failure, as a shell says
            log.seek(0)
            print(f"\n===== job {number} ({len(files)} files): exit {code} after "
                  f"{time.monotonic() - started:.0f} s =====", flush=True)
            sys.stdout.write(log.read())
            log.close()
    # a job whose files hold no test of a `-k` selection is no failure, unless no job ran any
    none = pytest.ExitCode.NO_TESTS_COLLECTED
    worst = max((c for c in codes if c != none), default=int(none))
    print(f"\n{len(groups)} jobs, {time.monotonic() - started:.0f} s, exit {worst}")
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
