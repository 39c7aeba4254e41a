"""The setup the pytest plugin and the Robot Framework listener share.

Both find their settings the same way (an option or listener argument first, else the
environment: ``STPT_URL``, ``STPT_MACHINE``, ``STPT_TOKEN``, ``STPT_SPOOL_DIR``,
``STPT_LABELS``), open the same kind of reporter (a delivery thread, short timeouts, one try
per event, so a server that is away costs a session one request timeout at most, and the spool
keeps every event for ``stpt replay``), and end with the same one-line summary. Nothing here
raises because of the server or a bad setting: what went wrong is returned as text for that
line.
"""

import os
import socket
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import stpt

#: The environment variable holding labels: ``KEY=VALUE`` pairs separated by commas.
LABELS_ENV = "STPT_LABELS"


class Settings:
    """Where and as whom to report, and the labels to put on the run."""

    __slots__ = ("url", "machine", "token", "spool_dir", "labels", "problems")

    def __init__(
        self,
        url: Optional[str],
        machine: str,
        token: Optional[str],
        spool_dir: Optional[str],
        labels: Dict[str, str],
        problems: List[str],
    ):
        self.url = url
        self.machine = machine
        self.token = token
        self.spool_dir = spool_dir
        self.labels = labels
        #: Settings that could not be used (a label that is not ``KEY=VALUE``, or one the
        #: server would refuse), for the summary line.
        self.problems = problems


def parse_label(text: str) -> Tuple[str, str]:
    """``KEY=VALUE`` (the value after the first ``=``; ``KEY:VALUE`` too) as a pair; raises
    ``ValueError`` for anything else."""
    for separator in ("=", ":"):
        key, found, value = text.partition(separator)
        if found and key.strip():
            return key.strip(), value.strip()
    raise ValueError(f"label {text!r} is not KEY=VALUE (e.g. branch=main)")


def settings(
    url: Optional[str] = None,
    machine: Optional[str] = None,
    token: Optional[str] = None,
    spool_dir: Optional[str] = None,
    labels: Iterable[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """The settings from the given values, each falling back to its environment variable.
    Labels from ``STPT_LABELS`` come first; ``labels`` (each ``KEY=VALUE``) add to them and win
    for the same key."""
    problems: List[str] = []
    found: Dict[str, str] = {}
    from_env = [part for part in (environ.get(LABELS_ENV) or "").split(",") if part.strip()]
    for text in [*from_env, *labels]:
        try:
            key, value = parse_label(text)
        except ValueError as error:
            problems.append(str(error))
            continue
        found[key] = value
    return Settings(
        url=url or environ.get("STPT_URL") or None,
        machine=machine or environ.get("STPT_MACHINE") or socket.gethostname(),
        token=token or environ.get("STPT_TOKEN") or None,
        spool_dir=spool_dir or environ.get("STPT_SPOOL_DIR") or None,
        labels=found,
        problems=problems,
    )


def open_reporter(config: Settings) -> Tuple[Optional["stpt.Reporter"], Optional[str]]:
    """A background HTTP reporter for ``config`` with its labels, or ``None`` and why not.
    A label the server would refuse is left out and added to ``config.problems``."""
    if not config.url:
        return None, None
    try:
        reporter = stpt.Reporter.http(
            config.url,
            machine=config.machine,
            spool_dir=config.spool_dir,
            token=config.token,
            connect_timeout=0.5,
            request_timeout=1.5,
            retries=1,
            probe_interval=30.0,
            background=True,
        )
    except Exception as error:  # noqa: BLE001 - reporting must never break the session
        return None, f"not reporting: {error}"
    for key, value in config.labels.items():
        try:
            reporter.label(key, value)
        except ValueError as error:
            config.problems.append(str(error))
    return reporter, None


def summary(
    reporter: Optional["stpt.Reporter"],
    failure: Optional[str],
    url: Optional[str],
    reported: int,
    problems: Iterable[str] = (),
) -> Optional[str]:
    """The one line a session ends with: reported (with the run), spooled for ``stpt
    replay``, or why not reporting; then the first refused event or unusable setting."""
    if reporter is None:
        return f"stpt: {failure}" if failure else None
    try:
        reporter.flush()
        pending = reporter.pending
        if pending:
            line = (
                f"stpt: server unreachable, {pending} events spooled in "
                f"{reporter.spool_dir}; deliver them with `stpt replay`"
            )
        else:
            line = f"stpt: reported {reported} tests to {url}, run {reporter.run_id}"
        refused = reporter.problems
        if refused:
            line += f"; {len(refused)} events refused: {refused[0]}"
        problems = list(problems)
        if problems:
            line += f"; ignored: {problems[0]}"
        return line
    except Exception as error:  # noqa: BLE001
        return f"stpt: stopped reporting: {error}"


def lines_of(text: str) -> List[str]:
    """Captured text as output lines (a trailing newline ends the last line, it adds none)."""
    return text.splitlines()
