"""The Python API: plans, reporters, errors only for programming mistakes, replay."""

import json

import pytest

import stpt
from conftest import free_port


def small_plan():
    plan = stpt.Plan("nightly", "/rig")
    assert plan.scenario("lamp.py", "/rig/scenarios") == 0
    on = plan.test("lamp_on", "/rig/scenarios/lamp.py", script="def lamp_on(): ...")
    off = plan.test("lamp_off", "/rig/scenarios/lamp.py")
    return plan, on, off


def test_json_lines_reporter_writes_the_protocol_events(tmp_path):
    plan, on, off = small_plan()
    path = tmp_path / "events.jsonl"
    with stpt.Reporter.json_lines(path, machine="rig-1").run(plan) as run:
        run.start(on)
        run.stop(on, "passed")
        run.start(off)
        run.stop(off, "skipped", "no lamp")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["kind"] for e in events] == ["dry_run"] + ["test_start", "test_stop"] * 2
    last = events[-1]["event"]
    assert (last["file_name"], last["status"], last["message"], last["index"]) == (
        "lamp_off",
        "skipped",
        "no lamp",
        1,
    )
    assert len({e["event"]["event_id"] for e in events}) == 5


def test_programming_errors_raise(tmp_path):
    plan = stpt.Plan("nightly", "/rig")
    with pytest.raises(ValueError, match="before any scenario"):
        plan.test("t", "/rig")
    plan.scenario("s.py", "/rig")
    plan.test(" ", "/rig")
    with pytest.raises(ValueError):
        plan.validate()
    reporter = stpt.Reporter.json_lines(tmp_path / "e.jsonl", machine="rig")
    with pytest.raises(ValueError, match="dry_run"):
        reporter.start(0)
    plan, on, _ = small_plan()
    reporter.dry_run(plan)
    with pytest.raises(IndexError):
        reporter.start(7)
    with pytest.raises(ValueError, match="unknown status"):
        reporter.stop(on, "green")
    with pytest.raises(ValueError, match="finished status"):
        reporter.stop(on, "running")
    with pytest.raises(ValueError):
        reporter.start(on, attempt=0)


def test_a_server_away_is_no_exception_and_replay_delivers(server, tmp_path):
    plan, on, off = small_plan()
    spool = tmp_path / "spool"
    away = f"http://127.0.0.1:{free_port()}"
    reporter = stpt.Reporter.http(away, machine="rig-api", spool_dir=spool, retries=1)
    with reporter.run(plan) as run:
        run.start(on)
        run.stop(on, "failed", "dark")
    assert reporter.offline and reporter.pending == 3 and reporter.problems == []
    assert reporter.spool_dir == str(spool)
    assert stpt.replay(away, spool_dir=spool).pending == 3
    delivery = stpt.replay(server.url, spool_dir=spool)
    assert (delivery.delivered, delivery.pending, delivery.rejected) == (3, 0, [])
    tree = server.run(server.runs_of("rig-api")[0])
    statuses = [t["status"] for s in tree["scenarios"] for t in s["tests"]]
    assert statuses == ["failed", "waiting"]


def test_http_reporter_knows_its_run(server, tmp_path):
    plan, on, off = small_plan()
    reporter = stpt.Reporter.http(server.url, machine="rig-live", spool_dir=tmp_path / "s")
    with reporter.run(plan):
        reporter.start(on)
        reporter.stop(on, "passed")
        reporter.start(off)
        reporter.stop(off, "skipped")
    tree = server.run(reporter.run_id)
    assert tree["run"]["status"] == "passed"
    assert tree["run"]["counts"]["skipped"] == 1
    assert reporter.sent == 5 and reporter.pending == 0


def test_shorten_is_stable():
    long = "test_x[" + "p" * 400 + "]"
    assert stpt.shorten(long, 256) == stpt.shorten(long, 256)
    assert len(stpt.shorten(long, 256)) == 256
    assert stpt.shorten("short", 256) == "short"
