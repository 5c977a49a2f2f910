"""The batch consumer and the outbox relay wait a few ms for company when events come one by one (what a person
at a screen would notice), and longer once they come in numbers (fewer, larger transactions under load)."""
from types import SimpleNamespace

import eventlet

from services.shared import batch, outbox


def test_the_batch_window_grows_after_a_busy_batch(monkeypatch):
    folder = batch.BatchFolder()
    folder.pending, folder.wake, folder.last_batch = [], eventlet.event.Event(), 0
    waits, folded = [], []
    real_sleep = eventlet.sleep
    monkeypatch.setattr(batch.eventlet, "sleep", lambda seconds=0: (waits.append(seconds), real_sleep(0))[1])
    folder.fold = lambda items: folded.append(len(items))
    thread = eventlet.spawn(folder._run)
    try:
        for round_, size in enumerate((1, batch.BUSY_BATCH, 1, 1)):
            for i in range(size):
                folder.submit(SimpleNamespace(), {"n": i}, None)
            with eventlet.Timeout(5):
                while len(folded) <= round_:
                    real_sleep(0)
    finally:
        thread.kill()
    assert folded == [1, batch.BUSY_BATCH, 1, 1]
    assert waits == [batch.BATCH_WINDOW_SECONDS, batch.BATCH_WINDOW_SECONDS, batch.BUSY_BATCH_WINDOW_SECONDS,
                     batch.BATCH_WINDOW_SECONDS]


def test_the_relay_coalesces_longer_after_a_busy_flush(monkeypatch):
    relay = outbox.OutboxRelay.__new__(outbox.OutboxRelay)
    relay._wake, relay._running, relay.poll_seconds = eventlet.event.Event(), True, 60
    flushes = iter([1, outbox.BUSY_FLUSH, outbox.BATCH, 2])
    waits = []
    real_sleep = eventlet.sleep
    relay.flush = lambda: next(flushes, 0)
    monkeypatch.setattr(outbox.eventlet, "sleep", lambda seconds=0: (waits.append(seconds), real_sleep(0))[1])
    thread = eventlet.spawn(relay.run)
    for _ in range(3):
        real_sleep(0)
        relay.wake()
        real_sleep(0)
    relay.stop()
    with eventlet.Timeout(5):
        thread.wait()
    # after 1 row: short; after BUSY_FLUSH: long; a full BATCH is flushed again at once, then 2 rows: short
    assert waits[:3] == [outbox.COALESCE_SECONDS, outbox.BUSY_COALESCE_SECONDS, outbox.COALESCE_SECONDS]
