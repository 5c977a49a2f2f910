"""A TCP proxy in front of RabbitMQ, for tests in which the broker goes away."""
from __future__ import annotations

import contextlib
import socket

import eventlet


class Proxy:
    """A TCP proxy in front of RabbitMQ that the test can switch off and on: the broker 'stops'."""

    def __init__(self, target=("127.0.0.1", 5672)):
        self.target = target
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.silent = False
        self.pipes = []
        self.acceptor = eventlet.spawn(self._accept)

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if not self.up:
                client.close()
                continue
            upstream = eventlet.connect(self.target)
            self.pipes.append((client, upstream))
            eventlet.spawn(self._pipe, client, upstream)
            eventlet.spawn(self._pipe, upstream, client)

    def _pipe(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self.silent:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            # end the other direction by EOF, and close only the socket this pipe alone reads: closing one that
            # another green thread still waits on would let its number be reused under that reader
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
            source.close()

    def stop(self):
        self.up = False
        for client, upstream in self.pipes:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.pipes = []

    def start(self):
        self.up = True

    def silence(self):
        """Keep the connections open but drop what goes through them: a broker that hangs."""
        self.silent = True

    def close(self):
        self.stop()
        self.acceptor.kill()
        self.listener.close()
