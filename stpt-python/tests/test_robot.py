"""The Robot Framework listener against a real server: statuses, one run, the server away."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import free_port

SUITE = """
*** Test Cases ***
Passes
    Should Be Equal    1    1

Fails
    Should Be Equal    1    2    msg=one is not two

Setup Breaks
    [Setup]    Fail    no rig
    No Operation

Is Skipped
    Skip    not on this rig
"""


def run_robot(
    directory: Path, url: str, machine: str, spool: Path, listener="stpt.robot.StptListener", env=None
):
    suite = directory / "lamp.robot"
    suite.write_text(textwrap.dedent(SUITE))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STPT_")}
    environment.update({"STPT_URL": url, "STPT_MACHINE": machine, "STPT_SPOOL_DIR": str(spool)})
    environment.update(env or {})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "robot",
            "--listener",
            listener,
            "--output",
            "NONE",
            "--report",
            "NONE",
            "--log",
            "NONE",
            str(suite),
        ],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def test_robot_statuses_reach_the_server(server, tmp_path):
    code, output = run_robot(tmp_path, server.url, "rig-robot", tmp_path / "spool")
    # Robot's exit code is the number of failed tests, listener or not.
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.startswith("stpt: ")]
    assert lines == [f"stpt: reported 4 tests to {server.url}, run 1"], output
    tree = server.run(1)
    tests = {t["file_name"]: t for s in tree["scenarios"] for t in s["tests"]}
    assert {name: t["status"] for name, t in tests.items()} == {
        "Passes": "passed",
        "Fails": "failed",
        "Setup Breaks": "error",
        "Is Skipped": "skipped",
    }
    assert "one is not two" in tests["Fails"]["message"]
    assert "Should Be Equal" in tests["Passes"]["script"]
    assert tree["scenarios"][0]["node"]["file_name"] == "lamp.robot"
    assert "*** Test Cases ***" in tree["scenarios"][0]["node"]["script"]


def test_robot_with_the_server_away_spools(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    spool = tmp_path / "spool"
    code, output = run_robot(tmp_path, url, "rig-robot-away", spool)
    assert code == 2, output
    assert (
        f"stpt: server unreachable, 9 events spooled in {spool}; deliver them with `stpt replay`"
        in output
    ), output


def test_robot_labels_from_the_listener_argument_and_the_environment(server, tmp_path):
    listener = f"stpt.robot.StptListener;{server.url};rig-robot-labels;;;branch=main,build=7"
    code, output = run_robot(
        tmp_path,
        "http://127.0.0.1:9",
        "ignored",
        tmp_path / "spool",
        listener=listener,
        env={"STPT_LABELS": "env=lab,branch=dev"},
    )
    assert code == 2, output
    assert f"stpt: reported 4 tests to {server.url}, run 1" in output, output
    found = server.get("/api/v1/runs?label=branch:main")["results"]
    assert [run["id"] for run in found] == [1]
    assert found[0]["labels"] == {"branch": "main", "build": "7", "env": "lab"}
    assert server.get("/api/v1/runs?label=branch:dev")["results"] == []
