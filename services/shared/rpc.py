"""nameko RPC whose requests and replies go through the service's one `ConfirmedPublisher` (publisher.py).

Use `rpc` and `RpcProxy` from here instead of nameko's: all RPC entrypoints of a service must come from the same
module, or two consumers would share the service's queue.
"""
from __future__ import annotations

from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, SERIALIZER_CONFIG_KEY
from nameko.rpc import MethodProxy, Responder, Rpc, RpcConsumer, RpcProxy as NamekoRpcProxy, ServiceProxy, \
    get_rpc_exchange

from .publisher import SharedPublisher


def _shared(publisher):
    """Stands in for nameko's `publisher_cls`: whatever it is called with, the shared publisher."""
    return lambda *args, **kwargs: publisher


class _RpcConsumer(RpcConsumer):
    shared_publisher = SharedPublisher()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = Responder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                              config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message)
        responder.publisher_cls = _shared(self.shared_publisher.publisher)
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


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


class RpcProxy(NamekoRpcProxy):
    shared_publisher = SharedPublisher()

    def get_dependency(self, worker_ctx):
        return _ServiceProxy(self.shared_publisher.publisher, worker_ctx, self.target_service,
                             self.rpc_reply_listener, **self.options)
