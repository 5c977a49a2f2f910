#!/usr/bin/env python3
"""Container health check, installed in the image as `kim-healthcheck`.

    kim-healthcheck gateway [PATH]   GET http://127.0.0.1:<port of KIM_GATEWAY_ADDRESS>PATH (default /ready)
    kim-healthcheck intake|casework  call the service's `health` RPC over the broker (AMQP_URI)

Exit status 0 when healthy, 1 otherwise. The RPC check answers whether *a* replica of the service works
(its database and its RPC queue), not necessarily the one in this container.
"""
import os
import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

SERVICES = ("intake", "casework")


def check_gateway(path: str) -> None:
    import urllib.request

    port = os.environ.get("KIM_GATEWAY_ADDRESS", "127.0.0.1:8000").rpartition(":")[2]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")


def check_service(name: str) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.shared.settings import DEFAULT_AMQP_URI

    config = {"AMQP_URI": os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI, "serializer": "json"}
    with ClusterRpcProxy(config, timeout=5) as rpc:
        result = getattr(rpc, name).health()
    if result.get("status") != "ok":
        raise RuntimeError(f"{name} reports {result}")


def main(argv: list[str]) -> int:
    name = argv[1] if len(argv) > 1 else "gateway"
    try:
        if name == "gateway":
            check_gateway(argv[2] if len(argv) > 2 else "/ready")
        elif name in SERVICES:
            check_service(name)
        else:
            print(f"usage: kim-healthcheck gateway|{'|'.join(SERVICES)}", file=sys.stderr)
            return 2
    except Exception as exc:  # any failure is "unhealthy"
        print(f"{name} unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
