"""Report system test runs live to an stpt server.

The classes are bindings of stpt's Rust runner, so a Python harness gets its delivery rules:
every event is spooled to disk before it is sent, delivered in order, retried with backoff,
and kept when the server is away, for ``stpt replay`` (or :func:`replay`) to deliver later.
Nothing here raises because the server is away; exceptions mean a programming error.

>>> import stpt
>>> plan = stpt.Plan("nightly", "/rig")
>>> plan.scenario("lamp.py", "/rig/scenarios")
0
>>> on = plan.test("lamp_on", "/rig/scenarios/lamp.py")
>>> with stpt.Reporter.http("http://127.0.0.1:8000", machine="rig-1").run(plan) as run:
...     run.start(on)
...     run.stop(on, "passed")
"""

from stpt._native import Delivery, Plan, Reporter, default_spool_dir, replay, shorten

__all__ = ["Delivery", "Plan", "Reporter", "default_spool_dir", "replay", "shorten", "STATUSES"]

#: The statuses a stop may carry (finished ones), best last.
STATUSES = ("cancelled", "unknown", "failed", "error", "warning", "passed", "skipped")
