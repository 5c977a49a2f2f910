"""nameko RPC whose requests and replies go through the service's one `ConfirmedPublisher` (publisher.py).

Use `rpc` and `RpcProxy` from here instead of nameko's: all RPC entrypoints of a service must come from the same
module, or two consumers would share the service's queue.
"""
from __future__ import annotations

import logging

from kombu import Queue
from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, SERIALIZER_CONFIG_KEY
from nameko.exceptions import UnknownService
from nameko.rpc import MethodProxy, Responder, Rpc, RpcConsumer, RpcProxy as NamekoRpcProxy, ServiceProxy, \
    get_rpc_exchange

from .connection import KimQueueConsumer, KimReplyListener
from .errors import InvalidInput, Unavailable
from .publisher import NotConfirmed, SharedPublisher
from .settings import Settings

log = logging.getLogger(__name__)


def _shared(publisher):
    """Stands in for nameko's `publisher_cls`: whatever it is called with, the shared publisher."""
    return lambda *args, **kwargs: publisher


class _RpcConsumer(RpcConsumer):
    queue_consumer = KimQueueConsumer()
    shared_publisher = SharedPublisher()

    def setup(self):
        super().setup()
        if Settings.load(self.container.config).quorum_queues:  # KIM_QUORUM_QUEUES: replicated, durable
            queue = self.queue
            self.queue = Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key, durable=True,
                               queue_arguments={"x-queue-type": "quorum"})

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = Responder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                              config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message)
        responder.publisher_cls = _shared(self.shared_publisher.publisher)
        if exc_info is not None and isinstance(exc_info[1], (NotConfirmed, UnknownService)):
            # a call this worker made could not be sent, or its service is not running: to the caller it is
            # a retryable 503, not an internal error
            exc_info = (Unavailable, Unavailable(f"{type(exc_info[1]).__name__}: retry"), exc_info[2])
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except NotConfirmed as exc:
            # the broker is away: the caller has long given up (its 503 tells it to retry with its
            # Idempotency-Key). The work stays done; a worker must not die of it, nor take the container along.
            log.warning("reply to %s not sent: %s", message.properties.get("correlation_id"), exc)
        self.queue_consumer.ack_message(message)
        return result, exc_info


    def decode_failed(self, message, exc):
        """A request kombu could not decode (e.g. JSON nested too deep): the caller hears 422 at once instead of
        waiting for its timeout."""
        if message.properties.get("reply_to"):
            error = InvalidInput("the request could not be decoded", {"body": ["not decodable JSON"]})
            self.handle_result(message, None, (InvalidInput, error, None))
        else:
            self.queue_consumer.ack_message(message)


class _Rpc(Rpc):
    rpc_consumer = _RpcConsumer()


rpc = _Rpc.decorator


class _MethodProxy(MethodProxy):
    def __init__(self, publisher, *args, **kwargs):
        self.publisher_cls = _shared(publisher)
        super().__init__(*args, **kwargs)


class _ServiceProxy(ServiceProxy):
    def __init__(self, publisher, *args, **kwargs):
        self._publisher = publisher
        super().__init__(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _MethodProxy(self._publisher, self.worker_ctx, self.service_name, name, self.reply_listener,
                            **self.options)


class _Bounded:
    """The shared publisher as a caller with `KIM_RPC_TIMEOUT` sees it: a request that cannot be sent within
    that time fails (BrokerUnavailable), and one that waits in a queue longer expires there, so a service
    coming back after an outage does not work off requests whose callers were long told to retry."""

    def __init__(self, publisher, seconds: float):
        self.publisher = publisher
        self.seconds = seconds

    def publish(self, payload, **message):
        self.publisher.publish(payload, timeout=self.seconds, expiration=self.seconds, **message)


class RpcProxy(NamekoRpcProxy):
    rpc_reply_listener = KimReplyListener()
    shared_publisher = SharedPublisher()

    def setup(self):
        super().setup()
        self.timeout = Settings.load(self.container.config).rpc_timeout

    def get_dependency(self, worker_ctx):
        return _ServiceProxy(_Bounded(self.shared_publisher.publisher, self.timeout), worker_ctx,
                             self.target_service, self.rpc_reply_listener, **self.options)
