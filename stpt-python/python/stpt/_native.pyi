"""Type hints of stpt's Rust extension module (see the package's docstring)."""

import os
from types import TracebackType
from typing import Dict, List, Optional, Type, Union

_Path = Union[str, "os.PathLike[str]"]

class Plan:
    """A run's plan: a master scenario, its scenarios in order and their tests in order."""

    def __init__(self, file_name: str, file_path: str, script: Optional[str] = None) -> None: ...
    def scenario(self, file_name: str, file_path: str, script: Optional[str] = None) -> int:
        """Adds a scenario after the previous ones; answers its position."""
    def test(self, file_name: str, file_path: str, script: Optional[str] = None) -> int:
        """Adds a test to the latest scenario; answers its index. ValueError before any scenario."""
    def validate(self) -> None:
        """Raises ValueError when a name is blank or longer than the protocol allows."""
    def __len__(self) -> int: ...

class Reporter:
    """Reports a run for one machine: a dry run, then a start and a stop per test."""

    @staticmethod
    def http(
        url: str,
        machine: str,
        spool_dir: Optional[_Path] = None,
        token: Optional[str] = None,
        connect_timeout: float = 3.0,
        request_timeout: float = 10.0,
        retries: int = 4,
        probe_interval: float = 5.0,
        background: bool = False,
    ) -> "Reporter":
        """Posts to the server at ``url`` through a spool (OSError if it cannot be opened);
        ``background``: a delivery thread spools and sends, so calls never wait on the network
        and ``flush`` waits until every event is spooled (and delivered, if the server answers)."""
    @staticmethod
    def json_lines(path: _Path, machine: str) -> "Reporter":
        """Appends the events as JSON lines to ``path``."""
    def run(self, plan: Plan) -> "Reporter":
        """Announces ``plan``; the answer is a context manager delivering what is pending at exit."""
    def dry_run(self, plan: Plan) -> None:
        """Announces ``plan``: every test becomes ``waiting``."""
    def start(self, index: int, attempt: Optional[int] = None) -> None:
        """The test at ``index`` starts now; ``attempt`` from 2 reruns a finished test."""
    def stop(
        self, index: int, status: str, message: Optional[str] = None, attempt: Optional[int] = None
    ) -> None:
        """The test at ``index`` finished now with ``status`` (one of ``stpt.STATUSES``)."""
    def output(self, index: int, lines: List[str], stream: Optional[str] = None) -> None:
        """Lines the test at ``index`` printed (``stream``: ``"stdout"``, ``"stderr"`` or
        unknown), sent as its live output in batches of at most 1,000 lines or 64 KiB."""
    def label(self, key: str, value: str) -> None:
        """Labels every dry run from now on; ``ValueError`` if the server would refuse it."""
    @property
    def labels(self) -> Dict[str, str]:
        """The labels added to every dry run."""
    def flush(self) -> None:
        """Delivers what is still pending."""
    @property
    def machine(self) -> str: ...
    @property
    def run_id(self) -> Optional[int]:
        """The run id the server answered for the dry run, once delivered."""
    @property
    def pending(self) -> int:
        """Events waiting in the spool."""
    @property
    def spool_dir(self) -> Optional[str]: ...
    @property
    def url(self) -> Optional[str]: ...
    @property
    def offline(self) -> bool: ...
    @property
    def run_aborted(self) -> bool:
        """A person aborted the run on the server: stop running its tests."""
    @property
    def sent(self) -> int: ...
    @property
    def problems(self) -> List[str]:
        """Events refused by the server or lost, one sentence each."""
    def __enter__(self) -> "Reporter": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class Delivery:
    """What delivering a spool achieved."""

    delivered: int
    pending: int
    dropped: int
    rejected: List[str]
    interrupted: Optional[str]

def replay(url: str, spool_dir: Optional[_Path] = None, token: Optional[str] = None) -> Delivery:
    """Delivers the spool at ``spool_dir`` (default: :func:`default_spool_dir`) to ``url``."""

def default_spool_dir() -> str:
    """``STPT_SPOOL_DIR``, else ``stpt/spool`` in the user's data directory."""

def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in ``~`` and a stable hash when cut."""
