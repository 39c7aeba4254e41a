"""Fixtures for the package's tests: a real `stpt serve` on a free port, and sample projects.

``STPT_BIN`` names the `stpt` binary (built by the test runner, ``stpt-python/tests/run``).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `stpt serve` on SQLite in a temporary directory."""

    def __init__(self, binary: str, directory: Path, port: int):
        self.binary = binary
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self) -> "Server":
        log = open(self.directory / "server.log", "ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "serve",
                "--database-url",
                str(self.directory / "stpt.db"),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=log,
            env={k: v for k, v in os.environ.items() if not k.startswith("STPT_")},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/healthz")
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.directory / "server.log").read_text())
                time.sleep(0.1)
        raise RuntimeError("stpt serve did not answer in 60 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def get(self, path: str):
        request = urllib.request.Request(self.url + path, headers={"Host": "127.0.0.1"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def run(self, run_id: int):
        return self.get(f"/api/v1/runs/{run_id}")

    def runs_of(self, machine: str):
        """The run ids of ``machine``, newest first."""
        machines = self.get("/tm_api/machines/")["results"]
        pk = next(m["pk"] for m in machines if m["machine_name"] == machine)
        return [r["pk"] for r in self.get(f"/tm_api/machine_dry_run_datas/{pk}/")["results"]]


@pytest.fixture
def stpt_bin() -> str:
    binary = os.environ.get("STPT_BIN")
    if not binary:
        pytest.fail("STPT_BIN must name the stpt binary")
    return binary


@pytest.fixture
def server(stpt_bin, tmp_path):
    directory = tmp_path / "server"
    directory.mkdir()
    server = Server(stpt_bin, directory, free_port()).start()
    yield server
    server.stop()


def run_pytest(project: Path, *args: str, env=None):
    """pytest on ``project`` in a fresh interpreter; answers (exit code, output)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("STPT_", "PYTEST_"))}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr
