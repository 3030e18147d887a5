"""The local feature server survives its port being taken between the free check and the bind.

The servers started here are real processes: one that binds the port it is given (and so
fails with EADDRINUSE on a port this test holds), and one that answers /health, standing in
for Feast's server so that the test needs no Feast repository.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from compiler.deploy.local import features
from compiler.deploy.local.features import FeatureDeploy, FeatureStoreError, PortTaken
from compiler.deploy.local.ports import HOST
from compiler.deploy.local.state import FeatureStoreRecord

STAND_IN = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


@pytest.fixture
def held() -> Iterator[int]:
    """A port another program (this test) is listening on."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen()
        yield sock.getsockname()[1]


def _stand_in(repo: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", STAND_IN, str(port)], stdout=sink, stderr=subprocess.STDOUT
        )


def test_a_server_that_loses_its_port_is_told_apart_from_other_failures(held, tmp_path):
    log = tmp_path / "server.log"
    log.write_text("an earlier run: [Errno 98] Address already in use\n")
    offset = log.stat().st_size
    ok = _stand_in(tmp_path, held, log)  # binds a port that is taken: fails like Feast would
    with pytest.raises(PortTaken, match=f"port {held} was taken"):
        features.wait_ready(ok, held, log, timeout=20, offset=offset)
    with log.open("ab") as sink:
        crash = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdout=sink)
    offset = log.stat().st_size  # the earlier lines mention the port: they must not count
    with pytest.raises(FeatureStoreError) as failed:
        features.wait_ready(crash, held, log, timeout=20, offset=offset)
    assert not isinstance(failed.value, PortTaken)
    assert str(failed.value) == "the feature server exited with status 3"


def test_the_deploy_retries_once_on_another_port(held, tmp_path, monkeypatch):
    started: list[int] = []

    def start(repo: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
        started.append(port)
        return _stand_in(repo, port, log)

    offered = iter([[held], None])  # the first port is taken once the server binds it

    def allocate(count, *, preferred=(), reserved=()):
        given = next(offered)
        if given is not None:
            return given
        assert held in reserved  # the port that was taken is not offered again
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            return [sock.getsockname()[1]]

    monkeypatch.setattr(features, "start_feature_server", start)
    monkeypatch.setattr("compiler.deploy.local.ports.allocate_ports", allocate)
    monkeypatch.setattr(features, "is_feature_server", lambda pid, repo: False)
    steps: list[str] = []
    session = SimpleNamespace(
        ir=SimpleNamespace(endpoints=lambda: [SimpleNamespace(feature_service="svc")]),
        state=SimpleNamespace(features=FeatureStoreRecord(repo_hash="abc"), endpoints={}),
        layout=SimpleNamespace(root=tmp_path),
        out=SimpleNamespace(step=steps.append),
        save=lambda: None,
        changes=[],
    )
    deploy = FeatureDeploy(session, tmp_path / "build")  # type: ignore[arg-type]
    try:
        url = deploy.server_url()
        assert started[0] == held and len(started) == 2
        assert url == f"http://{HOST}:{started[1]}"
        assert steps[0] == f"features: port {held} was taken; retrying"
        assert session.state.features.server_port == started[1]
        assert not deploy.failed
    finally:
        pid = session.state.features.server_pid
        if pid:
            subprocess.run(["kill", str(pid)], check=False)
