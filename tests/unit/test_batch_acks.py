"""The batch consumer acks a committed batch with one basic.ack of its latest delivery (`multiple`), so a
batch may ack only once every earlier delivery is settled: batches folding at once (PostgreSQL) ack in the
order they were cut, an invalid envelope is dead-lettered in its turn, and deliveries are handed to the folder
in the consumer's own thread, in delivery order."""
from types import SimpleNamespace

import eventlet
import pytest
from eventlet.event import Event
from marshmallow import ValidationError

from services.shared import batch


class Channel:
    """What the broker sees of one channel: which delivery tags are settled."""

    def __init__(self):
        self.connection = True
        self.settled: set[int] = set()
        self.delivered = 0

    def deliver(self, n=1):
        messages = []
        for _ in range(n):
            self.delivered += 1
            messages.append(SimpleNamespace(channel=self, delivery_tag=self.delivered, properties={},
                                            ack=self._ack(self.delivered)))
        return messages

    def _ack(self, tag):
        def ack(multiple=False):
            assert tag not in self.settled, "a settled delivery tag is unknown to the broker: channel error"
            self.settled.update(range(1, tag + 1) if multiple else [tag])
        return ack


class Transactions:
    """The folder's database: a fold of an envelope named in `blocked` waits for that event."""

    def __init__(self):
        self.blocked: dict[str, Event] = {}
        self.folded: list[str] = []

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _folder():
    transactions = Transactions()
    folder = batch.BatchFolder()
    folder.database = SimpleNamespace(transactions=transactions)
    folder.settings = None
    folder.last_done = None
    parked = []

    def fold(uow, envelopes, settings):
        for envelope in envelopes:
            if envelope in transactions.blocked:
                transactions.blocked[envelope].wait()
            transactions.folded.append(envelope)

    consumer = batch.BatchQueueConsumer()
    subscription = SimpleNamespace(queue_consumer=consumer, fold=fold,
                                   _park=lambda message, exc: (parked.append(message), message.ack()))
    return folder, transactions, subscription, parked


def _cut(folder, entries):
    done = Event()
    thread = eventlet.spawn(folder._fold_batch, entries, folder.last_done, done)
    folder.last_done = done
    return thread


def _two_batches(size):
    """Two batches of `size` cut one after the other; the first one's fold waits for transactions.blocked["a0"],
    so the second commits first."""
    folder, transactions, subscription, _ = _folder()
    channel = Channel()
    first, second = channel.deliver(size), channel.deliver(size)
    transactions.blocked["a0"] = Event()
    one = _cut(folder, [(f"a{i}", subscription, m) for i, m in enumerate(first)])
    two = _cut(folder, [(f"b{i}", subscription, m) for i, m in enumerate(second)])
    eventlet.sleep(0.05)
    return transactions, channel, one, two


def test_a_later_batch_that_commits_first_acks_only_after_the_earlier_one():
    transactions, channel, one, two = _two_batches(3)
    assert transactions.folded == ["b0", "b1", "b2"]  # the second batch committed...
    assert channel.settled == set()  # ...but its ack would cover the first batch's open deliveries
    transactions.blocked["a0"].send(True)
    one.wait(), two.wait()
    assert channel.settled == {1, 2, 3, 4, 5, 6}


def test_a_batch_cut_short_lets_no_later_batch_ack_over_it():
    transactions, channel, one, two = _two_batches(2)
    one.kill()  # the service stops while the first batch folds: it rolls back, its messages come back
    eventlet.sleep(0.05)
    assert transactions.folded == ["b0", "b1"] and channel.settled == set()
    two.kill()


def test_one_ack_per_batch_and_channel_with_its_latest_delivery():
    folder, _, subscription, _ = _folder()
    old, new = Channel(), Channel()  # a reconnect in the middle of the batch
    acks = []
    messages = old.deliver(4) + new.deliver(2)
    for message in messages:
        ack = message.ack
        message.ack = lambda multiple=False, ack=ack, message=message: (acks.append((message, multiple)),
                                                                       ack(multiple))
    folder.fold([(f"e{i}", subscription, m) for i, m in enumerate(messages)])
    assert acks == [(messages[3], True), (messages[5], True)]
    assert old.settled == {1, 2, 3, 4} and new.settled == {1, 2}


def test_an_invalid_envelope_is_dead_lettered_in_its_turn_and_not_acked_twice():
    folder, transactions, subscription, parked = _folder()
    channel = Channel()
    messages = channel.deliver(4)
    def unfit(message):
        return batch.Unfit(lambda: subscription._park(message, ValidationError({"municipality": ["unknown"]})))
    entries = [("e0", subscription, messages[0]), (unfit(messages[1]), subscription, messages[1]),
               ("e2", subscription, messages[2]), (unfit(messages[3]), subscription, messages[3])]
    _cut(folder, entries).wait()
    assert parked == [messages[1], messages[3]] and transactions.folded == ["e0", "e2"]
    assert channel.settled == {1, 2, 3, 4}  # the batch's ack went up to the last folded one, not past it


def test_deliveries_reach_the_folder_inline_in_delivery_order(monkeypatch):
    consumer = batch.BatchQueueConsumer()
    consumer.container = SimpleNamespace(spawn_managed_thread=lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("no green thread per message")))
    seen = []
    provider = SimpleNamespace(handle_message=lambda body, message: seen.append(body))
    for n in range(3):
        consumer.handle_message(provider, n, SimpleNamespace(delivery_info={"routing_key": "x"}))
    assert seen == [0, 1, 2]


def test_an_undecodable_delivery_reaches_the_folder_in_its_turn():
    """kombu calls the decode-error handler in the consumer's thread: the subscription hands an Unfit entry on
    at once (a green thread of its own could let a later batch's ack cover the message first)."""
    consumer = batch.BatchQueueConsumer()
    consumer.container = SimpleNamespace(spawn_managed_thread=lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("not in a green thread of its own")))
    submitted = []
    subscription = batch.BatchSubscription.__new__(batch.BatchSubscription)
    subscription.folder = SimpleNamespace(submit=lambda *entry: submitted.append(entry))
    subscription.queue = SimpleNamespace(name="q")
    message = SimpleNamespace(properties={}, content_type="application/json", body=b"{")
    consumer._undecodable(subscription, message, ValueError("not JSON"))
    ((owner, entry, delivered),) = submitted
    assert owner is subscription and delivered is message and isinstance(entry, batch.Unfit)


def test_the_consumer_lets_the_folds_run_between_deliveries():
    consumer = batch.BatchQueueConsumer()
    provider = SimpleNamespace(handle_message=lambda body, message: None)
    ran = []
    eventlet.spawn(ran.append, "a fold's next step")
    consumer.handle_message(provider, {}, SimpleNamespace(delivery_info={"routing_key": "x"}))
    assert ran == ["a fold's next step"]


@pytest.mark.parametrize("dialect, folds, slots", [
    ("postgresql", [True, True], batch.CONCURRENT_FOLDS),  # analytics: every fold locks in one order
    ("postgresql", [True, False], 1),  # casework's assignment reads loads before it decides
    ("sqlite", [True], 1),  # one writing transaction at a time anyway
])
def test_batches_fold_at_once_only_where_every_fold_allows_it(dialect, folds, slots):
    entrypoints = []
    for concurrent in folds:
        subscription = batch.BatchSubscription.__new__(batch.BatchSubscription)
        subscription.concurrent = concurrent
        entrypoints.append(subscription)
    folder = batch.BatchFolder()
    folder.container = SimpleNamespace(entrypoints=entrypoints, spawn_managed_thread=lambda run: None)
    folder.database = SimpleNamespace(engine=SimpleNamespace(dialect=SimpleNamespace(name=dialect)))
    folder.start()
    assert folder.slots.balance == slots
