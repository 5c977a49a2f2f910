"""Confirmed publishing shared by a service's green threads: its RPC requests and replies and its outbox relay.

nameko's `Publisher` checks a producer out of a pool and waits for the broker's confirm on each message: per RPC
that was the largest single CPU cost in a service (about 170 us of CPU a publish, 70 of them the lone confirm
wait). `ConfirmedPublisher` keeps the guarantees (every message confirmed, a `mandatory` message that reaches no
queue reported) but sends the messages of concurrent callers together, in one socket write, and waits once for
all their confirms.
"""
from __future__ import annotations

import contextlib
import logging
import time
import uuid

import eventlet
from eventlet.event import Event
from greenlet import GreenletExit
from amqp.method_framing import frame_writer
from kombu import Connection, Producer
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, SERIALIZER_CONFIG_KEY
from nameko.extensions import SharedExtension

from .connection import BrokerLink

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 10
CLOSE_TIMEOUT_SECONDS = 2


class NotConfirmed(Exception):
    """The broker refused (nack) a message, or did not confirm it in time."""


class BrokerUnavailable(NotConfirmed):
    """RabbitMQ could not be reached before the message's deadline: the message was not sent."""


class _Pending:
    __slots__ = ("message", "done", "returned", "deadline", "cancelled")

    def __init__(self, message: dict, deadline: float):
        self.message = message
        self.done = Event()
        self.returned = False
        self.deadline = deadline
        self.cancelled = False  # its caller gave up: not sent if it is still queued


class _CorkedWrites:
    """The connection's frame writes, collected while corked and then sent with one `sendall`: one system call
    (and one wake-up of the broker) per batch instead of per message. Frames are copied, as py-amqp reuses its
    frame buffer."""

    def __init__(self, transport):
        self.transport = transport
        self.buffer: bytearray | None = None

    def write(self, data) -> None:
        if self.buffer is None:
            self.transport.write(data)
        else:
            self.buffer += data

    @contextlib.contextmanager
    def corked(self):
        self.buffer = bytearray()
        try:
            yield
            data = self.buffer
        finally:
            self.buffer = None
        if data:
            self.transport.write(data)


class ConfirmedPublisher:
    """Publishes for many green threads over one channel in confirm mode; `publish` returns once the broker
    confirmed the message. Its signature is what nameko's `Responder` and `MethodProxy` call a publisher with.

    A runner thread owns the connection: it sends everything queued, then reads the confirms (acks for many
    messages at once arrive as one frame) while the next batch queues up. When the broker is away it reconnects
    with backoff for as long as it takes; a message that cannot be sent before its deadline fails its own
    caller with `BrokerUnavailable`, and the runner goes on."""

    def __init__(self, amqp_uri: str, serializer: str = DEFAULT_SERIALIZER,
                 timeout: float = CONFIRM_TIMEOUT_SECONDS):
        self.amqp_uri = amqp_uri
        self.serializer = serializer
        self.timeout = timeout
        self.link = BrokerLink("publisher")
        self._queue: list[_Pending] = []
        self._wake = Event()
        self._running = True
        self._connection = None
        self._producer = None
        self._writes: _CorkedWrites | None = None
        self._inflight: dict[int, _Pending] = {}  # delivery tag -> message awaiting its confirm
        self._returnable: dict[str, _Pending] = {}  # message id -> mandatory message awaiting its confirm
        self._declared: set = set()  # exchanges and queues declared on the current connection

    def publish(self, payload, timeout: float | None = None, **message) -> None:
        """Publish one message: kombu's `Producer.publish` arguments, plus nameko's `extra_headers`. Raises
        UndeliverableMessage when a `mandatory` message reached no queue, BrokerUnavailable when the broker
        could not be reached within `timeout` seconds (default: the publisher's)."""
        self._wait(self._enqueue(payload, timeout, **message))

    def publish_many(self, messages: list[tuple[object, dict]]) -> list[Exception | None]:
        """Publish (payload, message arguments) pairs together; for each, None or what failed it."""
        batch = [self._enqueue(payload, None, **message) for payload, message in messages]
        outcomes = []
        for pending in batch:
            try:
                self._wait(pending)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _enqueue(self, payload, timeout, *, exchange, routing_key, mandatory=False, serializer=None,
                 extra_headers=None, headers=None, declare=None, **properties) -> _Pending:
        if not self._running:
            raise BrokerUnavailable("the publisher is stopped")
        if mandatory:
            properties.setdefault("message_id", str(uuid.uuid4()))  # to match a basic.return to its message
        properties.setdefault("delivery_mode", 2)
        pending = _Pending(dict(body=payload, exchange=exchange, routing_key=routing_key, mandatory=mandatory,
                                serializer=serializer or self.serializer, declare=declare or [exchange],
                                headers={**(headers or {}), **(extra_headers or {})}, **properties),
                           time.monotonic() + (self.timeout if timeout is None else timeout))
        self._queue.append(pending)
        if not self._wake.ready():
            self._wake.send(True)
        return pending

    def _wait(self, pending: _Pending) -> None:
        # the runner resolves it by the deadline, or after one confirm wait if it was sent just before
        patience = max(0.0, pending.deadline - time.monotonic()) + self.timeout
        try:
            with eventlet.Timeout(patience, BrokerUnavailable("RabbitMQ did not take the message in time")):
                pending.done.wait()  # raises what the runner sent
        except BaseException:  # timed out, or the caller's own timeout or kill: do not send it later
            pending.cancelled = True
            raise

    def run(self):
        """The runner alone touches the connection (a second green thread reading it would fail or hang), so
        it also closes it: with the AMQP handshake when stopped, without network I/O when killed."""
        try:
            self._run()
        except GreenletExit:
            self._close()
            raise
        self._close(graceful=True)

    def _run(self):
        while self._running or self._queue:
            if not self._queue:
                self._wake.wait()
                self._wake = Event()
                continue
            batch, self._queue = self._take_due(), []
            if not batch:
                continue
            try:
                self._send(batch)
                self.link.back()
            except Exception as exc:  # connection lost, nack or confirm timeout
                self._close()
                self._inflight.clear()
                self._returnable.clear()
                if isinstance(exc, NotConfirmed):  # the broker may have the message: it is not sent twice
                    for pending in batch:
                        if not pending.done.ready():
                            pending.done.send_exception(exc)
                    continue
                # not sent (or not known to be): send again on the next connection, until the deadline
                self._queue[:0] = [p for p in batch if not p.done.ready()]
                delay = self.link.lost(exc)
                if self._running:
                    with eventlet.Timeout(delay, False):
                        self._until_stopped()
                else:  # stopping: what cannot go out now fails its caller
                    self._fail_all(exc)

    def _take_due(self) -> list[_Pending]:
        """What is queued and still wanted: cancelled messages are dropped, expired ones fail their callers."""
        now = time.monotonic()
        due = []
        for pending in self._queue:
            if pending.cancelled or pending.done.ready():
                continue
            if pending.deadline <= now:
                pending.done.send_exception(BrokerUnavailable("RabbitMQ is unreachable; the message was not sent"))
            else:
                due.append(pending)
        return due

    def _until_stopped(self):
        while self._running:
            eventlet.sleep(0.1)

    def _fail_all(self, exc):
        for pending in self._queue:
            if not pending.done.ready():
                pending.done.send_exception(BrokerUnavailable(f"the publisher is stopping: {exc}"))
        self._queue = []

    def stop(self):
        """Publish what is queued, then end `run`."""
        self._running = False
        if not self._wake.ready():
            self._wake.send(True)

    def kill(self):
        """Take no more messages. The container then kills `run`, which drops the connection: closing it from
        this green thread while `run` may be reading it would leave the hub a reader of a closed socket."""
        self._running = False

    def _send(self, batch: list[_Pending]) -> None:
        producer = self._get_producer()
        for pending in batch:  # declarations wait for the broker's answer: before corking
            for entity in pending.message["declare"]:
                if entity not in self._declared:  # kombu's own cache check copies the entity on every call
                    producer.maybe_declare(entity)
                    self._declared.add(entity)
        with self._writes.corked():
            for pending in batch:
                if pending.cancelled:  # its caller gave up while the connection was made: not sent after all
                    continue
                message = dict(pending.message)
                del message["declare"]  # declared above
                producer.publish(message.pop("body"), retry=False, **message)
                self._tag += 1
                self._inflight[self._tag] = pending
                if message["mandatory"]:
                    self._returnable[message["message_id"]] = pending
        deadline = time.monotonic() + self.timeout
        while self._inflight:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotConfirmed("no publisher confirm from the broker")
            self._connection.drain_events(timeout=remaining)

    def _on_confirm(self, delivery_tag, multiple, nacked=False):
        tags = [t for t in self._inflight if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            pending = self._inflight.pop(tag, None)
            if pending is None:
                continue
            self._returnable.pop(pending.message.get("message_id"), None)
            if nacked:
                pending.done.send_exception(NotConfirmed("the broker refused the message"))
            elif pending.returned:
                pending.done.send_exception(UndeliverableMessage())
            else:
                pending.done.send(None)

    def _on_return(self, exception, exchange, routing_key, message):
        # the broker sends basic.return before the message's ack
        pending = self._returnable.get(message.properties.get("message_id"))
        if pending is not None:
            pending.returned = True

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(self.amqp_uri, connect_timeout=2)
            self._connection.ensure_connection(max_retries=0)  # one try: the runner backs off itself
            link = self._connection.connection  # py-amqp's: its frames go through our corkable writer
            self._writes = _CorkedWrites(link.transport)
            link.frame_writer = frame_writer(link, self._writes)
            channel = self._connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_confirm)
            channel.events["basic_nack"].add(lambda tag, multiple: self._on_confirm(tag, multiple, nacked=True))
            self._producer = Producer(channel, on_return=self._on_return)
            self._tag = 0
            self._declared = set()
        return self._producer

    def _close(self, graceful: bool = False):
        """Drop the connection. Only a graceful close talks to the broker, and only for a moment: py-amqp waits
        for the broker's close-ok without a time limit, and a broker that hangs must not hang the service."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is None:
            return
        if graceful:
            with eventlet.Timeout(CLOSE_TIMEOUT_SECONDS, False), contextlib.suppress(Exception):
                connection.release()
            return
        with contextlib.suppress(Exception):
            connection.collect()  # frees the socket without the closing handshake


class SharedPublisher(SharedExtension):
    """The container's one ConfirmedPublisher, for its RPC replies and requests and its outbox relay."""

    _publisher = None

    @property
    def publisher(self) -> ConfirmedPublisher:
        # created on first use: a dependency's setup may ask before this extension's setup ran
        if self._publisher is None:
            config = self.container.config
            self._publisher = ConfirmedPublisher(config[AMQP_URI_CONFIG_KEY],
                                                 config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER))
        return self._publisher

    def start(self):
        self.container.spawn_managed_thread(self.publisher.run)

    def stop(self):
        self.publisher.stop()

    def kill(self):
        self.publisher.kill()
