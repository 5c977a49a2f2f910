"""The batch consumer and the outbox relay wait a few ms for company when events come one by one (what a person
at a screen would notice), and longer once they come in numbers (fewer, larger transactions under load)."""
import eventlet

from services.shared import batch, outbox


def _gathering_folder(monkeypatch, arrivals_per_step):
    """A folder whose clock is its sleeps: each step of waiting brings `arrivals_per_step(step)` messages."""
    folder = batch.BatchFolder()
    folder.pending, steps = [], []

    def sleep(seconds=0):
        steps.append(seconds)
        folder.pending += [("envelope", None, None)] * arrivals_per_step(len(steps))
    monkeypatch.setattr(batch.eventlet, "sleep", sleep)
    return folder, steps


def test_a_lone_event_waits_one_step(monkeypatch):
    folder, steps = _gathering_folder(monkeypatch, lambda step: 0)
    folder.pending = [("envelope", None, None)]
    folder._gather()
    assert steps == [batch.BATCH_STEP_SECONDS]


def test_a_steady_stream_gathers_for_the_whole_window(monkeypatch):
    folder, steps = _gathering_folder(monkeypatch, lambda step: 2)
    folder.pending = [("envelope", None, None)]
    folder._gather()
    assert len(steps) == round(batch.BATCH_WINDOW_SECONDS / batch.BATCH_STEP_SECONDS)
    assert len(folder.pending) == 1 + 2 * len(steps)


def test_a_full_batch_or_a_stalled_refill_does_not_wait(monkeypatch):
    folder, steps = _gathering_folder(monkeypatch, lambda step: 300 if step == 1 else 0)
    folder.pending = [("envelope", None, None)] * batch.BATCH_MAX
    folder._gather()
    assert steps == []
    folder.pending = [("envelope", None, None)]
    folder._gather()  # the prefetch refilled at once, then nothing more came: fold now, not after the window
    assert len(steps) == 2 and len(folder.pending) == 301


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
