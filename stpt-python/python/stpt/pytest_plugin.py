"""pytest plugin: report a pytest session live to an stpt server.

Active only when ``--stpt-url`` or ``STPT_URL`` is given. After collection the session is
announced as one dry run (the master is the session, scenarios are the test modules in run
order, tests the collected items, each with its source as script); then every test gets a
start when its setup begins and a stop after its teardown. With pytest-xdist only the
controller reports, from the reports the workers forward, so the session is one run.

Labels (``--stpt-label KEY=VALUE``, repeatable; the ``stpt_labels`` ini option, one per line;
``STPT_LABELS``, comma-separated) go on the run. Each test's captured output (pytest's
"Captured stdout/stderr/log" sections of every phase) is sent as the test's live output once
the phase ends: stdout lines as ``stdout``, stderr and log lines as ``stderr``
(``--stpt-no-output`` or ``stpt_output = false`` turns it off). With ``-s`` nothing is
captured, so nothing is sent.

Status mapping: passed -> ``passed``; failed in the call -> ``failed``; an error in setup or
teardown -> ``error``; skipped -> ``skipped``; xfail -> ``warning`` (the reason as message);
a non-strict xpass -> ``warning``; a strict xpass -> ``failed``. A rerun
(pytest-rerunfailures) ends the attempt and starts the next one.

The plugin never changes pytest's outcomes, exit code or output beyond one summary line: any
failure of its own is swallowed and told on that line.
"""

import ast
import inspect
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

import stpt
from stpt import _setup

#: The protocol's limits on names and paths.
NAME_LIMIT = 256
PATH_LIMIT = 1024
#: Scripts larger than this are cut (the dry run must fit the server's body limit).
SCRIPT_LIMIT = 64 * 1024

#: Worst first, as the server aggregates (``skipped`` lowest).
_PRIORITY = ("cancelled", "unknown", "failed", "error", "warning", "passed", "skipped")


def pytest_addoption(parser):
    group = parser.getgroup("stpt", "report the session live to an stpt server")
    group.addoption(
        "--stpt-url",
        default=None,
        help="stpt server to report to (env STPT_URL); the plugin is off without it",
    )
    group.addoption(
        "--stpt-machine",
        default=None,
        help="machine name to report as (env STPT_MACHINE; default: the host name)",
    )
    group.addoption(
        "--stpt-token", default=None, help="machine token for the server (env STPT_TOKEN)"
    )
    group.addoption(
        "--stpt-spool-dir",
        default=None,
        help="where events wait while the server is away (env STPT_SPOOL_DIR; default: "
        "stpt's spool directory, the one `stpt replay` reads)",
    )
    group.addoption(
        "--stpt-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label for the run, e.g. branch=main (repeatable; env STPT_LABELS, "
        "comma-separated; ini stpt_labels)",
    )
    group.addoption(
        "--stpt-no-output",
        action="store_true",
        default=False,
        help="do not send the tests' captured output (ini stpt_output = false)",
    )
    parser.addini("stpt_labels", type="linelist", default=[], help="labels for the run, KEY=VALUE")
    parser.addini(
        "stpt_output", type="bool", default=True, help="send the tests' captured output to stpt"
    )


def pytest_configure(config):
    settings = _setup.settings(
        url=config.getoption("stpt_url"),
        machine=config.getoption("stpt_machine"),
        token=config.getoption("stpt_token"),
        spool_dir=config.getoption("stpt_spool_dir"),
        labels=[*config.getini("stpt_labels"), *config.getoption("stpt_label")],
    )
    if not settings.url or hasattr(config, "workerinput"):
        # Off, or an xdist worker: the controller reports for the whole session.
        return
    output = config.getini("stpt_output") and not config.getoption("stpt_no_output")
    config.pluginmanager.register(
        StptReporting(config, settings, output=output), "stpt-reporting"
    )


def _worst(a: Optional[str], b: str) -> str:
    if a is None:
        return b
    return a if _PRIORITY.index(a) <= _PRIORITY.index(b) else b


def _short_text(report) -> Optional[str]:
    """The failure's short text: what pytest's short summary shows."""
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        # A skip: (file, line, "Skipped: reason").
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = str(longrepr).strip()
    return text.splitlines()[-1] if text else None


def outcome_of(report) -> Tuple[Optional[str], Optional[str]]:
    """(status, message) one phase's report contributes, or (None, None) for nothing."""
    wasxfail = getattr(report, "wasxfail", None)
    if report.outcome == "passed":
        if report.when == "call" and wasxfail is not None:
            return "warning", "unexpectedly passed" + (f": {wasxfail}" if wasxfail else "")
        return ("passed", None) if report.when == "call" else (None, None)
    if report.outcome == "skipped":
        if wasxfail is not None:
            return "warning", "expected failure" + (f": {wasxfail}" if wasxfail else "")
        return "skipped", _short_text(report)
    if report.outcome == "failed":
        status = "failed" if report.when == "call" else "error"
        return status, _short_text(report)
    return None, None


class _Test:
    """One collected item: its attempts so far and what of them the server was told."""

    __slots__ = ("index", "attempt", "status", "message", "finished", "final", "shown",
                 "sent", "awaiting_rerun")

    def __init__(self, index: int):
        self.index = index
        #: The attempt under way, from 1.
        self.attempt = 1
        #: The worst status of the current attempt's phases so far, and its message.
        self.status: Optional[str] = None
        self.message: Optional[str] = None
        #: (status, message) of each attempt ended by a rerun.
        self.finished: List[Tuple[str, Optional[str]]] = []
        #: (status, message) of the last attempt, once the item finished.
        self.final: Optional[Tuple[str, Optional[str]]] = None
        #: The attempt last started on the server (0: none), and how many stops were sent.
        self.shown = 0
        self.sent = 0
        #: A rerun ended the attempt and the next one has not begun.
        self.awaiting_rerun = False

    def add(self, status: Optional[str], message: Optional[str]) -> None:
        """Keeps the worst status of the phases, with the message that came with it."""
        if status is None:
            return
        if _worst(self.status, status) != self.status:
            self.status, self.message = status, message
        elif status == self.status and self.message is None:
            self.message = message


class StptReporting:
    """The plugin's state for one session (registered on the controller only)."""

    def __init__(self, config, settings: "_setup.Settings", output: bool = True):
        self.config = config
        self.url = settings.url
        self.settings = settings
        #: Send each test's captured output.
        self.output = output
        self.index: Dict[str, int] = {}
        self.tests: Dict[str, _Test] = {}
        #: Tests started by pytest that the server does not show running yet, in order.
        self.waiting: List[str] = []
        #: The test shown running on the server.
        self.slot: Optional[str] = None
        self.reported = 0
        self.done = False
        # A delivery thread spools and sends, so a test never waits on the network.
        self.reporter, self.failure = _setup.open_reporter(settings)

    # Collection -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        items = [(item.nodeid, _item_path(item), _item_source(item)) for item in session.items]
        self._announce(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if self.index or self.failure:
            return
        root = Path(str(self.config.rootpath))
        sources = _SourceFinder(root)
        items = []
        for nodeid in ids:
            module_id, _, rest = nodeid.partition("::")
            path = sources.locate(module_id)
            items.append((nodeid, path, sources.find(path, rest)))
        self._announce(items)

    def _announce(self, items: Sequence[Tuple[str, Optional[Path], Optional[str]]]) -> None:
        # Nothing will run (--collect-only, nothing collected): no run to announce.
        if (
            self.reporter is None
            or self.index
            or not items
            or getattr(self.config.option, "collectonly", False)
        ):
            return
        try:
            plan = self._plan(items)
            self.reporter.dry_run(plan)
        except Exception as error:  # noqa: BLE001
            self.failure = f"not reporting: {error}"
            self.reporter = None

    def _plan(self, items) -> "stpt.Plan":
        root = Path(str(self.config.rootpath))
        plan = stpt.Plan(
            stpt.shorten(root.name or "pytest", NAME_LIMIT),
            stpt.shorten(str(root), PATH_LIMIT),
        )
        module_sources: Dict[Path, Optional[str]] = {}
        current: Optional[str] = None
        for nodeid, path, source in items:
            module_id, _, rest = nodeid.partition("::")
            if path is not None:
                # A worker's node ids may be relative to another directory than the
                # controller's root: name modules from the root, the same with and without
                # xdist.
                try:
                    module_id = path.resolve().relative_to(root.resolve()).as_posix()
                except ValueError:
                    pass
            if module_id != current:
                current = module_id
                if path is not None and path not in module_sources:
                    module_sources[path] = _read(path)
                directory = os.path.dirname(module_id) or "."
                plan.scenario(
                    stpt.shorten(os.path.basename(module_id) or module_id, NAME_LIMIT),
                    stpt.shorten(directory, PATH_LIMIT),
                    _cut(module_sources.get(path)) if path is not None else None,
                )
            index = plan.test(
                stpt.shorten(rest or module_id, NAME_LIMIT),
                stpt.shorten(module_id, PATH_LIMIT),
                _cut(source),
            )
            self.index.setdefault(nodeid, index)
        return plan

    # Tests --------------------------------------------------------------------------------
    #
    # The protocol keeps one running test per run (a start ends the previous test as
    # `unknown`), while pytest-xdist runs several at once. So one test at a time holds the
    # server's running slot: a test that starts while another holds it waits, and is told to
    # the server (start, then its stop if it already finished) as soon as the slot is free.
    # Without xdist the slot is always free when a test starts, and every event goes out at
    # once.

    def pytest_runtest_logstart(self, nodeid, location):
        index = self.index.get(nodeid)
        if self.reporter is None or index is None:
            return
        test = self.tests.get(nodeid)
        if test is not None:
            # pytest-rerunfailures starting the next attempt of a test.
            self._next_attempt(nodeid, test)
            return
        test = self.tests[nodeid] = _Test(index)
        self.waiting.append(nodeid)
        self._drain()

    def pytest_runtest_logreport(self, report):
        test = self.tests.get(report.nodeid)
        if self.reporter is None or test is None or test.final is not None:
            return
        if self.output:
            self._send_output(test, report)
        if test.awaiting_rerun:
            self._next_attempt(report.nodeid, test)
        if report.outcome == "rerun":
            status = "failed" if report.when == "call" else "error"
            test.finished.append((status, _short_text(report)))
            test.status = test.message = None
            test.awaiting_rerun = True
            if self.slot == report.nodeid:
                self._show(test)
            return
        test.add(*outcome_of(report))

    def pytest_runtest_logfinish(self, nodeid, location):
        test = self.tests.get(nodeid)
        if self.reporter is None or test is None or test.awaiting_rerun or test.final:
            return
        test.final = (test.status or "unknown", test.message)
        if self.slot == nodeid:
            self._show(test)
            self.slot = None
            self._drain()

    def _send_output(self, test: _Test, report) -> None:
        """Sends what the phase of ``report`` captured as the test's output."""
        suffix = f" {report.when}"
        for title, text in getattr(report, "sections", ()):
            if not title.endswith(suffix) or not text:
                continue
            if title.startswith("Captured stdout"):
                stream = "stdout"
            elif title.startswith(("Captured stderr", "Captured log")):
                stream = "stderr"
            else:
                continue
            lines = _setup.lines_of(text)
            if lines:
                self._call(lambda r: r.output(test.index, lines, stream))

    def _next_attempt(self, nodeid: str, test: _Test) -> None:
        if not test.awaiting_rerun:
            return
        test.awaiting_rerun = False
        test.attempt += 1
        if self.slot == nodeid:
            self._show(test)

    def _drain(self) -> None:
        """Gives the free slot to the next waiting test, telling the server about finished
        ones on the way."""
        while self.slot is None and self.waiting:
            nodeid = self.waiting.pop(0)
            if self._show(self.tests[nodeid]):
                self.slot = nodeid

    def _show(self, test: _Test) -> bool:
        """Tells the server what it does not know yet of ``test``; answers whether the test
        is left running there."""
        while test.sent < len(test.finished):
            attempt = test.sent + 1
            status, message = test.finished[attempt - 1]
            self._start(test, attempt)
            self._call(lambda r: r.stop(test.index, status, message, _attempt(attempt)))
            test.sent = attempt
        if test.awaiting_rerun:
            return True
        self._start(test, test.attempt)
        if test.final is None:
            return True
        if test.sent < test.attempt:
            status, message = test.final
            attempt = test.attempt
            self._call(lambda r: r.stop(test.index, status, message, _attempt(attempt)))
            test.sent = attempt
            self.reported += 1
        return False

    def _start(self, test: _Test, attempt: int) -> None:
        if test.shown < attempt:
            test.shown = attempt
            self._call(lambda r: r.start(test.index, _attempt(attempt)))

    def _call(self, action) -> None:
        try:
            action(self.reporter)
        except Exception as error:  # noqa: BLE001
            self.failure = f"stopped reporting: {error}"
            self.reporter = None

    # End ----------------------------------------------------------------------------------

    def _finish(self) -> Optional[str]:
        if self.done:
            return None
        self.done = True
        # Tests still waiting for the slot (an interrupted session) are told as they are.
        self.slot = None
        self._drain()
        if self.reporter is not None and not self.index:
            # Nothing was announced (--collect-only, nothing collected): nothing to say.
            return None
        return _setup.summary(
            self.reporter, self.failure, self.url, self.reported, self.settings.problems
        )

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        line = self._finish()
        if line:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config):
        # Without a terminal reporter (-p no:terminal) the summary hook never runs.
        self._finish()


def _attempt(attempt: int) -> Optional[int]:
    """The wire's attempt: absent for a first one."""
    return attempt if attempt > 1 else None


def _item_path(item) -> Optional[Path]:
    path = getattr(item, "path", None) or getattr(item, "fspath", None)
    return Path(str(path)) if path is not None else None


def _item_source(item) -> Optional[str]:
    function = getattr(item, "function", None)
    if function is None:
        return None
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return None


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cut(text: Optional[str]) -> Optional[str]:
    if text is None or len(text) <= SCRIPT_LIMIT:
        return text
    return text[:SCRIPT_LIMIT] + "\n# … cut by stpt"


class _SourceFinder:
    """A test function's source from its node id, by parsing its module (xdist's controller
    has node ids, not items)."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: Dict[Path, Tuple[Optional[str], Optional[ast.Module]]] = {}

    def locate(self, module_id: str) -> Optional[Path]:
        """The module's file: node ids are relative to the workers' root directory, which
        may be the controller's or one of its parents."""
        for base in (self.root, *self.root.parents, Path.cwd()):
            candidate = base / module_id
            if candidate.is_file():
                return candidate
        return None

    def find(self, path: Optional[Path], rest: str) -> Optional[str]:
        if path is None:
            return None
        if path not in self.modules:
            text = _read(path)
            try:
                tree = ast.parse(text) if text is not None else None
            except (SyntaxError, ValueError):
                tree = None
            self.modules[path] = (text, tree)
        text, tree = self.modules[path]
        if text is None or tree is None:
            return None
        names: List[str] = [part.split("[", 1)[0] for part in rest.split("::") if part]
        body = tree.body
        node = None
        for name in names:
            node = next(
                (
                    n
                    for n in body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and n.name == name
                ),
                None,
            )
            if node is None:
                return None
            body = getattr(node, "body", [])
        if node is None:
            return None
        return ast.get_source_segment(text, node)
