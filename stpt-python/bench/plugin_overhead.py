"""What the pytest plugin costs a session with the server up: 2,000 empty tests, the plugin
off then on, against a real `stpt serve` (use a release build), a few rounds each.

    python stpt-python/bench/plugin_overhead.py --stpt target/release/stpt [--tests 2000] [--rounds 3]

Run it with the Python that has the `stpt` package installed (e.g. target/py/stpt-venv, made by
stpt-python/tests/run). Prints, per round and overall, the median time per test (the time
between the starts of two consecutive tests, measured inside pytest), the session's wall time,
and the differences: the median per-test overhead is the figure the plugin is held to, the
wall-time difference includes the end of the session (waiting for the delivery thread to
deliver what is queued). It also prints the load average: on a busy machine the figures are
rough.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TIMING_CONFTEST = '''
import json, os, time
import pytest

_starts = []

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    _starts.append(time.perf_counter())
    yield

def pytest_unconfigure(config):
    _starts.append(time.perf_counter())
    with open(os.environ["BENCH_TIMES"], "w") as out:
        json.dump(_starts, out)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str, directory: Path):
    port = free_port()
    log = open(directory / "server.log", "ab")
    process = subprocess.Popen(
        [binary, "serve", "--database-url", str(directory / "stpt.db"), "--port", str(port)],
        stdout=log,
        stderr=log,
        env={k: v for k, v in os.environ.items() if not k.startswith("STPT_")},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url + "/healthz", headers={"Host": "127.0.0.1"})
            urllib.request.urlopen(request, timeout=5).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("stpt serve did not answer in 60 s")


def session(project: Path, times: Path, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STPT_", "PYTEST_"))}
    env["BENCH_TIMES"] = str(times)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stdout + done.stderr)
    starts = json.loads(times.read_text())
    per_test = [b - a for a, b in zip(starts, starts[1:])]
    summary = [line for line in done.stdout.splitlines() if line.startswith("stpt: ")]
    return statistics.median(per_test), wall, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stpt", required=True, help="the stpt binary (a release build)")
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stpt-bench-") as temp:
        temp = Path(temp)
        project = temp / "project"
        project.mkdir()
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "conftest.py").write_text(TIMING_CONFTEST)
        (project / "test_empty.py").write_text(
            "import pytest\n\n"
            f"@pytest.mark.parametrize('n', range({args.tests}))\n"
            "def test_empty(n):\n    pass\n"
        )
        server, url = start_server(args.stpt, temp)
        try:
            rows = []
            for round_ in range(args.rounds):
                off = session(project, temp / "off.json", [])
                on = session(
                    project,
                    temp / "on.json",
                    ["--stpt-url", url, "--stpt-machine", "bench",
                     "--stpt-spool-dir", str(temp / "spool")],
                )
                if not on[2] or not on[2][0].startswith("stpt: reported"):
                    sys.exit(f"the plugin did not report: {on[2]}")
                rows.append((off, on))
                print(
                    f"round {round_ + 1}: median per test off {off[0] * 1e3:.3f} ms, "
                    f"on {on[0] * 1e3:.3f} ms; session off {off[1]:.2f} s, on {on[1]:.2f} s"
                )
        finally:
            server.terminate()
            server.wait()
    per_test = statistics.median(on[0] - off[0] for off, on in rows)
    wall = statistics.median(on[1] - off[1] for off, on in rows)
    print(
        f"{args.tests} empty tests, {args.rounds} rounds: median per-test overhead "
        f"{per_test * 1e3:.3f} ms; session overhead {wall:.2f} s "
        f"({wall / args.tests * 1e3:.3f} ms per test); load average {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
