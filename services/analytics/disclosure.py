"""Statistical disclosure control (Geheimhaltung): no published cell counts 1..k-1 people, and no suppressed
cell can be recovered from the totals published with it.

A table is a matrix of counts with (optionally) a total per row and per column; the totals are published cells
too. Primary suppression hides every cell (totals included) in 1..k-1. Secondary suppression: every line (a
row with its total, a column with its total) holds either no hidden cell or at least two, else the one would
be its total minus the others; a line with exactly one gets its smallest other cell hidden too (a non-zero
inner cell first), repeated until no line has exactly one. Zero is published: it counts nobody.
"""
from __future__ import annotations

from dataclasses import dataclass

TOTAL = "__total__"  # no row or column key can be this (codes start with a letter)
MIN_CELL_FLOOR = 3


def check_min_cell(k: int) -> int:
    """KIM_ANALYTICS_MIN_CELL: at least 3 (below that, a cell of 2 would let its two people recognise each
    other); the service refuses to start otherwise."""
    if k < MIN_CELL_FLOOR:
        raise ValueError(f"KIM_ANALYTICS_MIN_CELL must be at least {MIN_CELL_FLOOR}, not {k}")
    return k


def cell(value, suppressed: bool) -> dict:
    return {"value": None if suppressed else value, "suppressed": suppressed}


@dataclass
class Table:
    """Counts by (row, column); `row_totals`/`col_totals` publish a total per row / per column (and the grand
    total when both)."""

    rows: list
    columns: list
    counts: dict
    row_totals: bool = True
    col_totals: bool = True

    def grid(self) -> dict:
        """Every published cell with its count, totals included, keyed (row, column)."""
        grid = {(r, c): int(self.counts.get((r, c), 0)) for r in self.rows for c in self.columns}
        if self.row_totals:
            for r in self.rows:
                grid[(r, TOTAL)] = sum(grid[(r, c)] for c in self.columns)
        if self.col_totals:
            for c in self.columns:
                grid[(TOTAL, c)] = sum(grid[(r, c)] for r in self.rows)
        if self.row_totals and self.col_totals:
            grid[(TOTAL, TOTAL)] = sum(grid[(r, c)] for r in self.rows for c in self.columns)
        return grid

    def lines(self) -> list[list]:
        """Each list: cells whose sum is the last one (the line's total)."""
        lines = []
        row_keys = self.rows + ([TOTAL] if self.col_totals else [])
        col_keys = self.columns + ([TOTAL] if self.row_totals else [])
        if self.row_totals:
            lines += [[(r, c) for c in self.columns] + [(r, TOTAL)] for r in row_keys]
        if self.col_totals:
            lines += [[(r, c) for r in self.rows] + [(TOTAL, c)] for c in col_keys]
        return lines


def suppress(table: Table, k: int) -> dict:
    """(row, column) -> {"value", "suppressed"} for every published cell of the table."""
    grid = table.grid()
    hidden = {key for key, value in grid.items() if 0 < value < k}
    lines = table.lines()
    changed = True
    while changed:
        changed = False
        for line in lines:
            inside = [key for key in line if key in hidden]
            if len(inside) != 1:
                continue
            others = [key for key in line if key not in hidden]
            if not others:
                continue
            # prefer an inner cell over a total, a non-zero one over zero, then the smallest
            pick = min(others, key=lambda key: (TOTAL in key, grid[key] == 0, grid[key]))
            hidden.add(pick)
            changed = True
    return {key: cell(value, key in hidden) for key, value in grid.items()}


def publish(table: Table, k: int) -> dict:
    """The table as JSON: {"columns": [...], "rows": [{"key": r, "cells": {c: cell}, "total": cell}],
    "total": {c: cell} (the totals row)}."""
    cells = suppress(table, k)
    out = {"columns": [str(c) for c in table.columns], "rows": []}
    for r in table.rows:
        row = {"key": r, "cells": {str(c): cells[(r, c)] for c in table.columns}}
        if table.row_totals:
            row["total"] = cells[(r, TOTAL)]
        out["rows"].append(row)
    if table.col_totals:
        out["total"] = {str(c): cells[(TOTAL, c)] for c in table.columns}
        if table.row_totals:
            out["total"]["total"] = cells[(TOTAL, TOTAL)]
    return out


def safe_value(value, count: int, k: int, suppressed: bool = False) -> dict:
    """A figure derived from `count` people (a rate, a median): hidden with its count."""
    hide = suppressed or 0 < count < k
    return cell(None if count == 0 and value is None else value, hide)
