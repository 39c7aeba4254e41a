"""Robot Framework listener (listener API v3): report a Robot run live to an stpt server.

Use ``robot --listener stpt.robot.StptListener tests/`` with ``STPT_URL`` (and optionally
``STPT_MACHINE``, ``STPT_TOKEN``, ``STPT_SPOOL_DIR``, ``STPT_LABELS``) in the environment, or
give them as arguments separated by semicolons, since URLs hold colons:
``--listener "stpt.robot.StptListener;http://127.0.0.1:8000;rig-1"``. The fifth argument (or
``labels=…``) puts labels on the run, ``KEY=VALUE`` pairs separated by commas:
``--listener "stpt.robot.StptListener;http://127.0.0.1:8000;rig-1;;;branch=main,env=lab"``;
they add to ``STPT_LABELS``'s and win for the same key.

When the top suite starts, the whole suite tree is announced as one dry run (the master is
the top suite, scenarios are the suites that hold tests, tests are their tests, with each
suite's file and each test's steps as scripts). Every test gets a start and a stop: PASS ->
``passed``, FAIL -> ``failed``, a failure in the test's setup or teardown -> ``error``,
SKIP and NOT RUN -> ``skipped``. The listener never changes Robot's results; at the end it
writes one line to the console (reported, or spooled for ``stpt replay``).
"""

import os
from typing import Dict, Optional

import stpt
from stpt import _setup

NAME_LIMIT = 256
PATH_LIMIT = 1024
SCRIPT_LIMIT = 64 * 1024


def robot_status(status: str, message: str) -> str:
    """The stpt status of a Robot test result."""
    if status == "PASS":
        return "passed"
    if status in ("SKIP", "NOT RUN"):
        return "skipped"
    if status == "FAIL":
        if message.startswith(("Setup failed", "Teardown failed")):
            return "error"
        return "failed"
    return "unknown"


class StptListener:
    """The listener; see the module's docstring."""

    ROBOT_LISTENER_API_VERSION = 3

    def __init__(
        self,
        url: Optional[str] = None,
        machine: Optional[str] = None,
        token: Optional[str] = None,
        spool_dir: Optional[str] = None,
        labels: Optional[str] = None,
    ):
        self.settings = _setup.settings(
            url=url,
            machine=machine,
            token=token,
            spool_dir=spool_dir,
            labels=[part for part in (labels or "").split(",") if part.strip()],
        )
        self.url = self.settings.url
        self.index: Dict[str, int] = {}
        self.reported = 0
        self.announced = False
        self.reporter: Optional[stpt.Reporter]
        self.reporter, self.failure = _setup.open_reporter(self.settings)

    def start_suite(self, data, result):
        if self.reporter is None or self.announced:
            return
        self.announced = True
        try:
            source = str(data.source) if data.source else data.name
            plan = stpt.Plan(
                stpt.shorten(data.name or "robot", NAME_LIMIT),
                stpt.shorten(source, PATH_LIMIT),
            )
            self._add(plan, data)
            self.reporter.dry_run(plan)
        except Exception as error:  # noqa: BLE001
            self.failure = f"not reporting: {error}"
            self.reporter = None

    def _add(self, plan, suite) -> None:
        if suite.tests:
            source = str(suite.source) if suite.source else suite.name
            plan.scenario(
                stpt.shorten(os.path.basename(source) or suite.name, NAME_LIMIT),
                stpt.shorten(os.path.dirname(source) or ".", PATH_LIMIT),
                _read(source),
            )
            for test in suite.tests:
                index = plan.test(
                    stpt.shorten(test.name, NAME_LIMIT),
                    stpt.shorten(suite.longname, PATH_LIMIT),
                    _steps(test),
                )
                self.index.setdefault(test.id, index)
        for child in suite.suites:
            self._add(plan, child)

    def start_test(self, data, result):
        index = self.index.get(data.id)
        if self.reporter is not None and index is not None:
            self._call(lambda r: r.start(index))

    def end_test(self, data, result):
        index = self.index.get(data.id)
        if self.reporter is None or index is None:
            return
        message = result.message or None
        status = robot_status(result.status, result.message or "")
        self._call(lambda r: r.stop(index, status, message))
        self.reported += 1

    def close(self):
        line = self._finish()
        if line:
            try:
                from robot.api import logger

                logger.console(line)
            except Exception:  # noqa: BLE001
                pass

    def _finish(self) -> Optional[str]:
        return _setup.summary(
            self.reporter, self.failure, self.url, self.reported, self.settings.problems
        )

    def _call(self, action) -> None:
        try:
            action(self.reporter)
        except Exception as error:  # noqa: BLE001
            self.failure = f"stopped reporting: {error}"
            self.reporter = None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    return text if len(text) <= SCRIPT_LIMIT else text[:SCRIPT_LIMIT]


def _steps(test) -> Optional[str]:
    lines = []
    for step in getattr(test, "body", []):
        name = getattr(step, "name", None)
        if not name:
            continue
        args = "    ".join(str(a) for a in getattr(step, "args", ()))
        lines.append(f"{name}    {args}".rstrip())
    return "\n".join(lines)[:SCRIPT_LIMIT] or None
