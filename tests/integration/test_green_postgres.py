"""A PostgreSQL query waits in the eventlet hub (`eventlet.monkey_patch()`, first thing in services/cli.py, gives
psycopg2 a wait callback): while one green thread waits for a slow query, the service's other green threads
(consumers, the relay, other workers) run."""
import eventlet
import pytest
from sqlalchemy import text

from services.shared.db import make_engine

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_slow_query_does_not_stall_the_other_green_threads(db_urls):
    engine = make_engine(db_urls["intake"])
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            eventlet.sleep(0.01)

    def slow():
        with engine.connect() as connection:
            return connection.execute(text("SELECT pg_sleep(0.5), 42")).one()[1]

    other = eventlet.spawn(ticker)
    try:
        assert eventlet.spawn(slow).wait() == 42
    finally:
        other.kill()
        engine.dispose()
    assert len(ticks) >= 20  # ~50 in 0.5 s; a blocked hub would give 1 or 2
