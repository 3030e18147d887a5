"""Port allocation: free ports only, stable across restarts, never another endpoint's."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from compiler.deploy.local.ports import NoFreePort, allocate_ports, port_is_free


@pytest.fixture
def listener() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_block(size: int) -> list[int]:
    """`size` consecutive free ports, found by asking the OS for one and probing upwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        start = sock.getsockname()[1]
    for base in range(start, start + 2000):
        block = list(range(base, base + size))
        if all(port_is_free(p) for p in block):
            return block
    pytest.skip("no block of free ports")


def test_a_listening_port_is_not_free(listener: int) -> None:
    assert not port_is_free(listener)


def test_allocation_skips_ports_in_use(listener: int) -> None:
    candidates = [listener, *free_block(2)]
    assert allocate_ports(2, candidates=candidates) == candidates[1:]


def test_preferred_ports_come_first_when_free() -> None:
    block = free_block(4)
    assert allocate_ports(2, preferred=[block[3], block[2]], candidates=block) == [
        block[3],
        block[2],
    ]


def test_a_preferred_port_in_use_is_replaced(listener: int) -> None:
    block = free_block(2)
    assert allocate_ports(1, preferred=[listener], candidates=block) == [block[0]]


def test_reserved_ports_are_never_handed_out() -> None:
    block = free_block(4)
    chosen = allocate_ports(2, preferred=[block[0]], reserved=block[:2], candidates=block)
    assert chosen == block[2:]


def test_ports_are_distinct() -> None:
    block = free_block(3)
    chosen = allocate_ports(3, preferred=[block[0], block[0]], candidates=block)
    assert sorted(chosen) == block


def test_no_free_port_is_an_error(listener: int) -> None:
    with pytest.raises(NoFreePort, match=f"between {listener} and {listener}"):
        allocate_ports(1, candidates=[listener])
