"""The router's listening socket: a deployment brought back keeps its address if it can."""

from __future__ import annotations

from baton.rollout.keeper_process import listening_socket


def test_the_preferred_port_when_free_else_one_the_kernel_picks() -> None:
    first = listening_socket("127.0.0.1")
    port = first.getsockname()[1]
    try:
        taken = listening_socket("127.0.0.1", prefer=port)  # first still listens there
        try:
            assert taken.getsockname()[1] not in (port, 0)
        finally:
            taken.close()
    finally:
        first.close()
    again = listening_socket("127.0.0.1", prefer=port)
    try:
        assert again.getsockname()[1] == port and again.get_inheritable()
    finally:
        again.close()
