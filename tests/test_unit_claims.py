"""warp.run.claims, what a start claims before its server runs: the port stays one app's, a socket's directory is made only where safe."""

from __future__ import annotations

import os
import socket

import pytest
from conftest import free_port

from warp.errors import UsageError
from warp.run.claims import claim_port, ensure_socket_dir


def test_a_claimed_port_is_refused_to_a_second_start_until_the_first_lets_go(tmp_path):
    port = free_port()
    first = claim_port(tmp_path / "runtime", "127.0.0.1", port)
    assert os.get_inheritable(first)  # the server warp execs keeps holding it
    # Nothing listens yet (the first server is still starting): only the lock tells the second start.
    with pytest.raises(UsageError, match=f"port {port} is already in use by another `warp start`"):
        claim_port(tmp_path / "runtime", "127.0.0.1", port)
    os.close(first)
    os.close(claim_port(tmp_path / "runtime", "127.0.0.1", port))


def test_a_port_something_else_listens_on_is_refused_and_its_lock_let_go(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is already in use"):
            claim_port(tmp_path / "runtime", "127.0.0.1", port)
    os.close(claim_port(tmp_path / "runtime", "127.0.0.1", port))


def test_a_socket_directory_is_made_one_level_deep_and_said(tmp_path):
    said = []
    ensure_socket_dir(tmp_path / "run" / "app.sock", said.append)
    assert (tmp_path / "run").is_dir() and said == [f" -----> Created {tmp_path / 'run'} for the socket"]


def test_a_socket_in_a_missing_tree_is_refused_and_nothing_is_made(tmp_path):
    with pytest.raises(UsageError, match="does not exist, nor does"):
        ensure_socket_dir(tmp_path / "a" / "b" / "app.sock", print)
    assert not (tmp_path / "a").exists()


def test_a_socket_in_use_is_refused(tmp_path):
    path = tmp_path / "app.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        with pytest.raises(UsageError, match="is already in use"):
            ensure_socket_dir(path, print)
