"""Review findings (h-review) on `vangnet.egress.relay.own_connection` (the stream relay serves
only its own process):

1. The client socket's row in ``/proc/self/net/tcp`` is found by the two port numbers alone
   (``endswith(":PORT")``), not by the addresses, and the first matching row wins. Another
   program can bind 127.0.0.2 (any 127/8 address) with the port number of one of this
   process's connections whose remote port equals the relay's port; its row and this process's
   row then both match, and when this process's row comes first in the table the stranger is
   taken for this process. The other way round, this process's own connection (FFmpeg's) is
   refused when another program's row with the same two port numbers comes first.
2. A stranger that resets its connection before the check makes ``getpeername`` fail; that is
   read as "cannot be told (not Linux)" (None), so the connection is served: the relay connects
   to the stream server for it, does not count it as a stranger, and from then on no longer
   ends when nobody connects within the connect timeout (``served`` is 1)."""

from __future__ import annotations

import errno
import ipaddress
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vangnet.egress.relay import Relay, own_connection

pytestmark = pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")

SAME_PORT_STRANGER = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.2", int(sys.argv[1])))
s.connect(("127.0.0.1", int(sys.argv[2])))
print("connected", flush=True)
time.sleep(30)
"""

SAME_PORTS_ELSEWHERE = """
import socket, sys, time
port = int(sys.argv[1])
listener = socket.create_server(("127.0.0.3", port))
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.connect(("127.0.0.3", port))
accepted = listener.accept()
print(s.getsockname()[1], flush=True)
time.sleep(30)
"""

RESETTING_STRANGER = """
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
"""


def test_a_stranger_using_this_process_port_number_on_another_address_is_refused() -> None:
    judged: list[bool | None] = []
    for _ in range(12):  # the table's row order decides; each try is about a coin toss
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            # this process: a connection 127.0.0.1:P -> 127.0.0.3:<the listener's port>
            with (
                socket.create_server(("127.0.0.3", port)) as elsewhere,
                socket.create_connection(("127.0.0.3", port), timeout=10) as mine,
            ):
                theirs = elsewhere.accept()[0]
                p = mine.getsockname()[1]
                with subprocess.Popen(
                    [sys.executable, "-c", SAME_PORT_STRANGER, str(p), str(port)],
                    stdout=subprocess.PIPE,
                    text=True,
                ) as stranger:
                    try:
                        assert stranger.stdout is not None
                        assert stranger.stdout.readline().strip() == "connected"
                        accepted, peer = listener.accept()
                        assert peer == ("127.0.0.2", p)  # another process's connection
                        with accepted:
                            judged.append(own_connection(accepted))
                    finally:
                        stranger.kill()
                        theirs.close()
    assert judged == [False] * len(judged), judged


def test_this_process_is_not_refused_for_another_program_with_the_same_port_numbers() -> None:
    judged: list[bool | None] = []
    for _ in range(12):  # the table's row order decides; each try is about a coin toss
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            # another program: 127.0.0.2:P -> 127.0.0.3:<the listener's port>
            with subprocess.Popen(
                [sys.executable, "-c", SAME_PORTS_ELSEWHERE, str(port)],
                stdout=subprocess.PIPE,
                text=True,
            ) as other:
                try:
                    assert other.stdout is not None
                    p = int(other.stdout.readline())
                    # this process (FFmpeg's part): 127.0.0.1:P -> the listener
                    with socket.socket() as mine:
                        try:
                            mine.bind(("127.0.0.1", p))
                        except OSError as error:  # P is taken on 127.0.0.1 by another test
                            if error.errno != errno.EADDRINUSE:
                                raise
                            continue  # this try shows nothing; the next picks another P
                        mine.connect(("127.0.0.1", port))
                        accepted = listener.accept()[0]
                        with accepted:
                            judged.append(own_connection(accepted))
                finally:
                    other.kill()
    assert judged and judged == [True] * len(judged), judged


def test_a_stranger_that_resets_at_once_is_not_relayed() -> None:
    upstream: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    upstream.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        relay = Relay(ipaddress.ip_address("127.0.0.1"), server.getsockname()[1], connect_timeout=2)
        # the stranger connects (into the listener's backlog) and resets before the relay
        # looks at it
        subprocess.run([sys.executable, "-c", RESETTING_STRANGER, str(relay.port)], check=True)
        try:
            with relay:
                time.sleep(4)  # twice the connect timeout; nobody else connects
                alive = relay._thread.is_alive()
                strangers = relay.strangers
        finally:
            stop.set()
            thread.join(timeout=5)
            for sock in upstream:
                sock.close()
    # (connections the stream server saw, strangers counted, relay still waiting)
    assert (len(upstream), strangers, alive) == (0, 1, False)
