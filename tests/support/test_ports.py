"""tests.support.ports: ports below the ephemeral range, a slice per xdist worker, never one in use."""

from __future__ import annotations

import itertools
import socket

from tests.support.ports import LOWEST, RANGE_FILE, PortPool, free_port, slice_for


def test_workers_get_disjoint_slices_below_the_ephemeral_range() -> None:
    slices = [slice_for(f"gw{i}", 3, 32_768) for i in range(3)]
    assert slices[0][0] == LOWEST and all(high <= 32_768 for _, high in slices)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(slices))
    assert slice_for("master", 1, 32_768) == (LOWEST, 32_768)  # not under xdist: the whole range


def test_a_port_in_use_is_skipped_and_none_is_handed_out_twice_in_a_turn() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))  # below the ephemeral range: its neighbours are free too
        taken = busy.getsockname()[1]
        pool = PortPool(taken, taken + 3, seed=0)
        ports = [pool.take(), pool.take()]
        assert taken not in ports and len(set(ports)) == 2
        assert all(taken < port < taken + 3 for port in ports)


def test_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    port = free_port()
    low = int(RANGE_FILE.read_text().split()[0])
    assert LOWEST <= port < low
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
