"""The municipalities (Kommunen) of the district, shipped as data with their official AGS codes."""
from __future__ import annotations

import csv
from importlib import resources
from typing import Iterable


def _load() -> dict[str, str]:
    text = resources.files(__package__).joinpath("data/municipalities.csv").read_text(encoding="utf-8")
    return {row["ags"]: row["name"] for row in csv.DictReader(text.splitlines())}


#: AGS code -> name, for every municipality of the Märkischer Kreis.
MUNICIPALITIES: dict[str, str] = _load()


def validate_ags_list(codes: Iterable[str], setting: str) -> None:
    unknown = [code for code in codes if code not in MUNICIPALITIES]
    if unknown:
        raise ValueError(f"{setting}: unknown municipality codes {unknown}; known: {sorted(MUNICIPALITIES)}")
