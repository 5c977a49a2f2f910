"""The catalogue of integration barriers (Integrationshürden), shipped as data: casework records its codes,
analytics ranks them, and the screens and the steering report name them in German or English."""
from __future__ import annotations

import csv
import functools
import re
from importlib import resources

from .events import BARRIER_CODE_RE, LIFE_AREAS


@functools.cache
def catalogue() -> dict[str, dict]:
    """code -> {code, area, label_de, label_en}, in the file's order; checked when loaded."""
    text = resources.files(__package__).joinpath("data/barrier_codes.csv").read_text(encoding="utf-8")
    codes: dict[str, dict] = {}
    for row in csv.DictReader(text.splitlines()):
        if not re.fullmatch(BARRIER_CODE_RE, row["code"]) or row["area"] not in LIFE_AREAS \
                or row["code"] in codes or not row["label_de"] or not row["label_en"]:
            raise ValueError(f"services/shared/data/barrier_codes.csv: bad row {row}")
        codes[row["code"]] = {key: row[key] for key in ("code", "area", "label_de", "label_en")}
    return codes
