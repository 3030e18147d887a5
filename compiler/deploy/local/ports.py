"""Local ports for model servers: free, not promised to another endpoint, stable across deploys."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Sequence

HOST = "127.0.0.1"
PORT_RANGE = range(8700, 9000)


class NoFreePort(Exception):
    pass


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on `port` now (the same bind the server will do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too: a port in TIME_WAIT counts as free, a listener does not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                return False
            raise
    return True


def allocate_ports(
    count: int,
    *,
    preferred: Iterable[int] = (),
    reserved: Iterable[int] = (),
    candidates: Sequence[int] = PORT_RANGE,
    host: str = HOST,
) -> list[int]:
    """`count` distinct free ports: the preferred ones first (if still free), then the lowest.

    `reserved` ports belong to other endpoints of the deployment (running or not) and are
    never handed out, so a stopped endpoint gets its port back when it starts again.
    """
    taken = set(reserved)
    chosen: list[int] = []
    for port in [*preferred, *candidates]:
        if len(chosen) == count:
            break
        if port in taken or port in chosen:
            continue
        if port_is_free(port, host):
            chosen.append(port)
    if len(chosen) < count:
        raise NoFreePort(f"no free port on {host} between {min(candidates)} and {max(candidates)}")
    return chosen
