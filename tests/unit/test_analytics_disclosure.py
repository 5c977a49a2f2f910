"""Disclosure control, as properties (hypothesis): no published cell counts 1..k-1, and no suppressed cell can
be recovered from the totals published with it (no line of a table holds exactly one hidden cell)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics.disclosure import TOTAL, Table, publish, suppress

counts = st.integers(min_value=0, max_value=30)


@st.composite
def tables(draw):
    rows = [f"r{i}" for i in range(draw(st.integers(1, 6)))]
    columns = [f"c{i}" for i in range(draw(st.integers(1, 5)))]
    values = {(r, c): draw(st.one_of(counts, st.integers(0, 6))) for r in rows for c in columns}
    return Table(rows, columns, values, row_totals=draw(st.booleans()), col_totals=draw(st.booleans()))


@settings(max_examples=400, deadline=None)
@given(tables(), st.integers(min_value=3, max_value=10))
def test_no_published_cell_counts_1_to_k_minus_1(table, k):
    for key, cell in suppress(table, k).items():
        if not cell["suppressed"]:
            assert cell["value"] == 0 or cell["value"] >= k, key
        else:
            assert cell["value"] is None


@settings(max_examples=400, deadline=None)
@given(tables(), st.integers(min_value=3, max_value=10))
def test_no_suppressed_cell_is_derivable_from_a_total(table, k):
    cells = suppress(table, k)
    grid = table.grid()
    for line in table.lines():
        hidden = [key for key in line if cells[key]["suppressed"]]
        assert len(hidden) != 1, (line, hidden)
        # and what is published adds up: the totals are the sums of their line's cells
        *inner, total = line
        assert sum(grid[key] for key in inner) == grid[total]


@settings(max_examples=200, deadline=None)
@given(tables(), st.integers(min_value=3, max_value=10))
def test_suppression_hides_no_more_than_needed_where_nothing_is_small(table, k):
    if all(v == 0 or v >= k for v in table.grid().values()):
        assert not any(c["suppressed"] for c in suppress(table, k).values())


def test_the_classic_case_a_small_cell_and_its_row_total():
    table = Table(["a", "b"], ["x", "y"], {("a", "x"): 2, ("a", "y"): 10, ("b", "x"): 7, ("b", "y"): 9})
    cells = suppress(table, 5)
    assert cells[("a", "x")] == {"value": None, "suppressed": True}
    hidden = {key for key, cell in cells.items() if cell["suppressed"]}
    assert len(hidden) >= 4  # the 2, one more in its row, one more in its column, and the fourth corner
    published = publish(table, 5)
    assert published["rows"][0]["cells"]["x"] == {"value": None, "suppressed": True}
    assert set(published["total"]) == {"x", "y", "total"} and TOTAL not in str(published)
