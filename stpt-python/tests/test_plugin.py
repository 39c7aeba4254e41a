"""The pytest plugin against a real server: statuses, sources, live order, xdist, reruns, the
server away then `stpt replay`, and pytest's exit code and output unchanged."""

import re
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import Server, free_port, run_pytest

SAMPLE = {
    "tests/test_basics.py": '''
        import pytest

        def test_passes():
            assert 1 + 1 == 2

        def test_fails():
            assert 1 == 2, "one is not two"

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")

        def test_setup_error(broken):
            pass

        @pytest.fixture
        def bad_teardown():
            yield
            raise RuntimeError("teardown broke")

        def test_teardown_error(bad_teardown):
            pass

        @pytest.mark.skip(reason="not on this rig")
        def test_skipped():
            pass

        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert False

        @pytest.mark.xfail(reason="fixed?", strict=True)
        def test_xpass_strict():
            pass
    ''',
    "tests/deep/test_classes.py": '''
        import pytest

        class TestLamp:
            def test_on(self):
                assert True

            @pytest.mark.parametrize("level", ["x" * 300 + "a", "x" * 300 + "b", "dim"])
            def test_level(self, level):
                assert level != "dim"
    ''',
}

EXPECTED = {
    "test_passes": "passed",
    "test_fails": "failed",
    "test_setup_error": "error",
    "test_teardown_error": "error",
    "test_skipped": "skipped",
    "test_xfail": "warning",
    "test_xpass_strict": "failed",
    "TestLamp::test_on": "passed",
    "TestLamp::test_level[dim]": "failed",
}


def make_project(root: Path, files=SAMPLE) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("stpt: ")]
    assert len(lines) == 1, output
    return lines[0]


def run_id_of(line: str) -> int:
    match = re.search(r"run (\d+)$", line)
    assert match, line
    return int(match.group(1))


def all_tests(tree):
    return [test for scenario in tree["scenarios"] for test in scenario["tests"]]


def check_sample_run(tree):
    tests = {t["file_name"]: t for t in all_tests(tree)}
    for name, status in EXPECTED.items():
        assert tests[name]["status"] == status, (name, tests[name])
    assert len(tests) == 11
    long = [t for name, t in tests.items() if name.startswith("TestLamp::test_level[xxx")]
    assert len(long) == 2 and all(t["status"] == "passed" for t in long)
    assert all(len(name) <= 256 for name in tests)
    assert "one is not two" in tests["test_fails"]["message"]
    assert "fixture broke" in tests["test_setup_error"]["message"]
    assert "known bug" in tests["test_xfail"]["message"]
    assert tests["test_skipped"]["message"] and "not on this rig" in tests["test_skipped"]["message"]
    assert tests["test_passes"]["script"].startswith("def test_passes():")
    assert "def test_on(self):" in tests["TestLamp::test_on"]["script"]
    scenarios = {s["node"]["file_name"]: s["node"] for s in tree["scenarios"]}
    assert set(scenarios) == {"test_basics.py", "test_classes.py"}
    assert scenarios["test_basics.py"]["file_path"] == "tests"
    assert "def test_fails" in scenarios["test_basics.py"]["script"]
    assert tree["run"]["status"] == "failed"


def test_statuses_match_pytest_outcomes_and_the_exit_code_is_unchanged(server, tmp_path):
    project = make_project(tmp_path / "project")
    plain_code, plain_output = run_pytest(project, "-q")
    code, output = run_pytest(
        project,
        "-q",
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-plain",
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    assert code == plain_code == 1
    line = summary_line(output)
    assert line == f"stpt: reported 11 tests to {server.url}, run {run_id_of(line)}"
    # Beyond the summary line, the output is pytest's own (times aside).
    def strip(text):
        text = re.sub(r"in [0-9.]+s", "", text.replace(line + "\n", ""))
        return re.sub(r"0x[0-9a-f]+", "0x", text)

    assert strip(output) == strip(plain_output)
    check_sample_run(server.run(run_id_of(line)))


def test_environment_configures_the_plugin(server, tmp_path):
    project = make_project(tmp_path / "project", {"test_one.py": "def test_one():\n    pass\n"})
    code, output = run_pytest(
        project,
        env={
            "STPT_URL": server.url,
            "STPT_MACHINE": "rig-env",
            "STPT_SPOOL_DIR": str(tmp_path / "spool"),
        },
    )
    assert code == 0
    tree = server.run(run_id_of(summary_line(output)))
    assert tree["machine"]["name"] == "rig-env"
    assert [t["status"] for t in all_tests(tree)] == ["passed"]


def test_without_url_the_plugin_is_silent(tmp_path):
    project = make_project(tmp_path / "project", {"test_one.py": "def test_one():\n    pass\n"})
    code, output = run_pytest(project)
    assert code == 0
    assert not [line for line in output.splitlines() if line.startswith("stpt")]


def test_xdist_reports_one_run_from_every_worker(server, tmp_path):
    project = make_project(tmp_path / "project")
    code, output = run_pytest(
        project,
        "-n",
        "2",
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-xdist",
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    assert code == 1, output
    line = summary_line(output)
    check_sample_run(server.run(run_id_of(line)))
    assert len(server.runs_of("rig-xdist")) == 1


def test_reruns_are_attempts(server, tmp_path):
    project = make_project(
        tmp_path / "project",
        {
            "test_flaky.py": '''
                import pathlib

                def test_flaky():
                    marker = pathlib.Path("tried")
                    if not marker.exists():
                        marker.write_text("1")
                        assert False, "first try fails"

                def test_always_fails():
                    assert False, "never works"
            '''
        },
    )
    code, output = run_pytest(
        project,
        "--reruns",
        "1",
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-reruns",
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    assert code == 1, output
    tree = server.run(run_id_of(summary_line(output)))
    tests = {t["file_name"]: t for t in all_tests(tree)}
    assert (tests["test_flaky"]["status"], tests["test_flaky"]["attempts"]) == ("passed", 2)
    assert (tests["test_always_fails"]["status"], tests["test_always_fails"]["attempts"]) == (
        "failed",
        2,
    )


def test_a_test_is_running_on_the_server_while_its_body_runs(server, tmp_path):
    flag = tmp_path / "inside"
    release = tmp_path / "release"
    project = make_project(
        tmp_path / "project",
        {
            "test_slow.py": f'''
                import pathlib, time

                def test_first():
                    pass

                def test_slow():
                    pathlib.Path({str(flag)!r}).write_text("in")
                    deadline = time.monotonic() + 30
                    while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:
                        time.sleep(0.05)
            '''
        },
    )
    seen = {}

    def watch():
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Events are delivered by the plugin's delivery thread: give it a moment.
        while time.monotonic() < deadline:
            try:
                run_id = server.runs_of("rig-live")[0]
            except (StopIteration, IndexError):
                time.sleep(0.05)
                continue
            seen["tests"] = [(t["file_name"], t["status"]) for t in all_tests(server.run(run_id))]
            if seen["tests"][-1][1] != "waiting":
                break
            time.sleep(0.05)
        release.write_text("go")

    watcher = threading.Thread(target=watch)
    watcher.start()
    code, output = run_pytest(
        project,
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-live",
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    watcher.join()
    assert code == 0, output
    assert seen["tests"] == [("test_first", "passed"), ("test_slow", "running")]


def test_server_away_spools_and_replay_completes_the_run(stpt_bin, tmp_path):
    project = make_project(tmp_path / "project")
    spool = tmp_path / "spool"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    code, output = run_pytest(
        project,
        "--stpt-url",
        url,
        "--stpt-machine",
        "rig-away",
        "--stpt-spool-dir",
        str(spool),
    )
    assert code == 1
    line = summary_line(output)
    # 11 tests: a dry run, then a start and a stop each.
    assert line == (
        f"stpt: server unreachable, 23 events spooled in {spool}; "
        "deliver them with `stpt replay`"
    )
    assert time.monotonic() - started < 60
    directory = tmp_path / "server"
    directory.mkdir()
    server = Server(stpt_bin, directory, port).start()
    try:
        replayed = subprocess.run(
            [stpt_bin, "replay", "--url", url, "--spool-dir", str(spool)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        runs = server.runs_of("rig-away")
        assert len(runs) == 1
        check_sample_run(server.run(runs[0]))
        # A second replay finds nothing to deliver and changes nothing.
        again = subprocess.run(
            [stpt_bin, "replay", "--url", url, "--spool-dir", str(spool)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0
        assert server.runs_of("rig-away") == runs
    finally:
        server.stop()


def test_collect_only_announces_nothing(server, tmp_path):
    project = make_project(tmp_path / "project", {"test_one.py": "def test_one():\n    pass\n"})
    code, output = run_pytest(
        project,
        "--collect-only",
        "--stpt-url",
        server.url,
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    assert code == 0
    assert not [line for line in output.splitlines() if line.startswith("stpt")]
    assert server.get("/tm_api/machines/")["results"] == []


LOUD = {
    "test_loud.py": '''
        import logging
        import sys

        def test_prints():
            print("hello from stdout")
            print("second line")
            sys.stderr.write("to stderr\\n")
            logging.getLogger("rig").warning("a log record")

        def test_quiet():
            pass

        def test_fails_loudly():
            print("before failing")
            assert False
    ''',
}


def loud_project(root: Path) -> Path:
    project = make_project(root, LOUD)
    (project / "pytest.ini").write_text("[pytest]\nstpt_labels =\n    suite=smoke\n")
    return project


def label_options(spool: Path):
    return ["--stpt-label", "branch=main", "--stpt-label", "build=42", "--stpt-spool-dir", str(spool)]


LABELS = {"branch": "main", "build": "42", "suite": "smoke", "env": "lab"}


def check_loud_run(server, run_id: int):
    """The run carries the labels and each test its own captured output."""
    found = server.get("/api/v1/runs?label=branch:main&label=suite:smoke")["results"]
    assert [run["id"] for run in found] == [run_id]
    assert found[0]["labels"] == LABELS
    assert server.get("/api/v1/runs?label=branch:dev")["results"] == []
    tests = {t["file_name"]: t for t in all_tests(server.run(run_id))}

    def output(name):
        log = server.get(f"/api/v1/tests/{tests[name]['id']}/output")
        return [(line["text"], line.get("stream")) for line in log["head"]]

    printed = output("test_prints")
    assert printed[:3] == [
        ("hello from stdout", "stdout"),
        ("second line", "stdout"),
        ("to stderr", "stderr"),
    ], printed
    assert len(printed) == 4 and "a log record" in printed[3][0], printed
    assert printed[3][1] == "stderr"
    assert output("test_quiet") == []
    assert output("test_fails_loudly") == [("before failing", "stdout")]


def test_labels_and_captured_output_reach_the_server(server, tmp_path):
    project = loud_project(tmp_path / "project")
    plain_code, _ = run_pytest(project, "-q")
    code, output = run_pytest(
        project,
        "-q",
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-loud",
        *label_options(tmp_path / "spool"),
        # The environment's labels come first; an option wins for the same key.
        env={"STPT_LABELS": "env=lab,branch=dev"},
    )
    assert code == plain_code == 1, output
    line = summary_line(output)
    assert line == f"stpt: reported 3 tests to {server.url}, run {run_id_of(line)}", output
    check_loud_run(server, run_id_of(line))


def test_output_capture_can_be_turned_off_and_bad_labels_are_told(server, tmp_path):
    project = loud_project(tmp_path / "project")
    code, output = run_pytest(
        project,
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-quiet",
        "--stpt-no-output",
        "--stpt-label",
        "no label here",
        "--stpt-spool-dir",
        str(tmp_path / "spool"),
    )
    assert code == 1, output
    line = summary_line(output)
    assert "ignored: label 'no label here' is not KEY=VALUE" in line, line
    run_id = int(re.search(r"run (\d+);", line).group(1))
    tree = server.run(run_id)
    for test in all_tests(tree):
        assert server.get(f"/api/v1/tests/{test['id']}/output")["head"] == []
    assert server.get("/api/v1/runs?label=suite:smoke")["results"][0]["id"] == run_id


def test_server_away_with_labels_and_output_fails_nothing(stpt_bin, tmp_path):
    project = loud_project(tmp_path / "project")
    plain_code, _ = run_pytest(project)
    spool = tmp_path / "spool"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    code, output = run_pytest(
        project,
        "--stpt-url",
        url,
        "--stpt-machine",
        "rig-loud-away",
        *label_options(spool),
        env={"STPT_LABELS": "env=lab"},
    )
    assert code == plain_code == 1, output
    # A dry run, a start and a stop for 3 tests, and 4 captured sections.
    assert summary_line(output) == (
        f"stpt: server unreachable, 11 events spooled in {spool}; "
        "deliver them with `stpt replay`"
    )
    directory = tmp_path / "server"
    directory.mkdir()
    server = Server(stpt_bin, directory, port).start()
    try:
        replayed = subprocess.run(
            [stpt_bin, "replay", "--url", url, "--spool-dir", str(spool)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        check_loud_run(server, server.runs_of("rig-loud-away")[0])
    finally:
        server.stop()


def test_xdist_workers_captured_output_reaches_its_tests(server, tmp_path):
    project = loud_project(tmp_path / "project")
    code, output = run_pytest(
        project,
        "-n",
        "2",
        "--stpt-url",
        server.url,
        "--stpt-machine",
        "rig-loud-xdist",
        *label_options(tmp_path / "spool"),
        env={"STPT_LABELS": "env=lab"},
    )
    assert code == 1, output
    check_loud_run(server, run_id_of(summary_line(output)))
