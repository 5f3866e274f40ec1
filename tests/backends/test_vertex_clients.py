"""The Vertex backend closes the connections its clients opened when Dagster tears it down."""

import os
from urllib.parse import urlparse

import dagster as dg

from embed_assets.testing import VertexEmulator


def _connections_to(port: int) -> int:
    """This process's established TCP connections to `port` on 127.0.0.1 (from /proc)."""
    mine = {
        os.readlink(f"/proc/self/fd/{fd}")
        for fd in os.listdir("/proc/self/fd")
        if os.path.exists(f"/proc/self/fd/{fd}")
    }
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote, state, inode = fields[2], fields[3], fields[9]
                if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                    count += f"socket:[{inode}]" in mine
    return count


def test_teardown_closes_the_google_genai_connections(vertex_emulator: VertexEmulator) -> None:
    port = int(urlparse(vertex_emulator.endpoint).port or 0)
    backend = vertex_emulator.vertex_backend()
    with dg.build_resources({"backend": backend}) as resources:
        resources.backend.find_jobs({"embed-assets-pipeline": "docs"})
        assert _connections_to(port) >= 1  # the client keeps its connection open for reuse
    assert _connections_to(port) == 0
