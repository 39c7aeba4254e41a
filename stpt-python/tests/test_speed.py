"""The plugin's safety when the server is away: a server that never answers costs a session a
bounded time and every event is spooled; a server killed mid-session loses and doubles
nothing once the spool is replayed."""

import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import Server, free_port, run_pytest
from test_plugin import all_tests, make_project, run_id_of, summary_line

EMPTY_TESTS = {
    "test_many.py": "import pytest\n\n@pytest.mark.parametrize('n', range(20))\ndef test_n(n):\n    pass\n"
}


class BlackHole:
    """A listening socket that never answers: it accepts connections and reads nothing
    (``accepts``), or leaves them in the kernel's backlog (not ``accepts``)."""

    def __init__(self, accepts: bool):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.held = []
        self.closed = threading.Event()
        if accepts:
            threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        self.closed.set()
        self.socket.close()
        for connection in self.held:
            connection.close()


@pytest.mark.parametrize("accepts", [True, False], ids=["accepts", "never-accepts"])
def test_a_black_hole_costs_the_session_at_most_two_seconds(stpt_bin, tmp_path, accepts):
    project = make_project(tmp_path / "project", EMPTY_TESTS)
    spool = tmp_path / "spool"
    started = time.monotonic()
    code, output = run_pytest(project)
    without = time.monotonic() - started
    assert code == 0, output
    hole = BlackHole(accepts)
    try:
        started = time.monotonic()
        code, output = run_pytest(
            project, "--stpt-url", hole.url, "--stpt-machine", "rig-hole",
            "--stpt-spool-dir", str(spool),
        )
        with_plugin = time.monotonic() - started
    finally:
        hole.close()
    assert code == 0, output
    # A dry run, then a start and a stop for each of the 20 tests: all spooled.
    assert summary_line(output) == (
        f"stpt: server unreachable, 41 events spooled in {spool}; "
        "deliver them with `stpt replay`"
    )
    assert len(list(spool.glob("*.json"))) == 41
    print(f"session overhead of a black hole: {with_plugin - without:.2f} s")
    # The bound is 2 s (one 1.5 s request timeout); the slack is for a loaded machine.
    assert with_plugin - without < 5, (with_plugin, without)
    directory = tmp_path / "server"
    directory.mkdir()
    server = Server(stpt_bin, directory, free_port()).start()
    try:
        replayed = subprocess.run(
            [stpt_bin, "replay", "--url", server.url, "--spool-dir", str(spool)],
            capture_output=True, text=True, timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        [run] = server.runs_of("rig-hole")
        tree = server.run(run)
        statuses = [t["status"] for t in all_tests(tree)]
        assert statuses == ["passed"] * 20
        assert tree["run"]["status"] == "passed"
        assert not list(spool.glob("*.json"))
    finally:
        server.stop()


def test_killing_the_server_mid_session_loses_and_doubles_nothing(server, tmp_path):
    project = make_project(
        tmp_path / "project",
        {
            "test_slowly.py": (
                "import time\nimport pytest\n\n"
                "@pytest.mark.parametrize('n', range(30))\n"
                "def test_n(n):\n    time.sleep(0.1)\n"
            )
        },
    )
    spool = tmp_path / "spool"
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--stpt-url", server.url,
         "--stpt-machine", "rig-killed", "--stpt-spool-dir", str(spool)],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # Kill the server once some tests are reported, well before the session ends.
    deadline = time.monotonic() + 60
    finished = 0
    while time.monotonic() < deadline and finished < 5:
        time.sleep(0.05)
        try:
            runs = server.runs_of("rig-killed")
            tree = server.run(runs[0])
        except (OSError, StopIteration, IndexError):
            continue
        finished = sum(t["status"] == "passed" for t in all_tests(tree))
    assert 5 <= finished < 30, finished
    server.process.kill()
    server.process.wait(timeout=30)
    server.process = None
    output, _ = session.communicate(timeout=300)
    assert session.returncode == 0, output
    line = summary_line(output)
    assert line.startswith("stpt: server unreachable, "), line
    spooled = sorted(spool.glob("*.json"))
    assert spooled
    # Keep the spooled events to send them a second time after the replay.
    again = tmp_path / "again"
    again.mkdir()
    for path in spooled:
        shutil.copy(path, again / path.name)
    server.start()
    for directory in (spool, again):
        replayed = subprocess.run(
            [server.binary, "replay", "--url", server.url, "--spool-dir", str(directory)],
            capture_output=True, text=True, timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        [run] = server.runs_of("rig-killed")
        tree = server.run(run)
        tests = all_tests(tree)
        assert [(t["status"], t["attempts"]) for t in tests] == [("passed", 1)] * 30
        assert tree["run"]["status"] == "passed"
    assert not list(spool.glob("*.json")) and not list(again.glob("*.json"))
