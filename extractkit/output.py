"""The ``--output`` file of a run: checked before anything is sent, never silently lost.

Rules (docs/cli.md, "The output file"):

* The file is checked before the first request: its folder must exist, it
  must not be a folder, and it must be writable -- otherwise a
  :class:`OutputError` (exit code 2) names it.
* A file that already holds something is never replaced silently: without
  ``--resume`` or ``--overwrite`` the run refuses to start.
* ``--resume`` keeps every record already there. Inputs whose last record is a
  success made with the same settings (the record's ``fingerprint``) are
  skipped; the others run again and their new records are appended. Only when
  the run ends is the file compacted to the newest record per input (through
  a temporary file and an atomic rename), so an interrupted run loses nothing
  and records of inputs that are not part of this run stay.
* One run writes a file at a time: an exclusive lock (``flock``) is held on the
  file while it is written; a second run is refused with a clear message.
* Each record is written whole with one ``write``; a torn last line left by a
  killed run is cut off when the file is resumed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ExtractkitError
from .redact import redact_data

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]


class OutputError(ExtractkitError):
    """The output file cannot be used as asked (exit code 2)."""


def check_writable(path: Path) -> None:
    """Fail now, naming ``path``, if a run could not write it."""
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; --output takes a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: the folder {parent} does not exist")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: not writable")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot create a file in {parent} (permission denied)")


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def refuse_to_replace(path: Path) -> None:
    if _has_content(path):
        raise OutputError(
            f"{path} already holds results; pass --resume to continue it, or --overwrite "
            "to replace it"
        )


class RecordsFile:
    """JSON Lines records of a batch run (see the module docstring)."""

    def __init__(self, path: str | Path, *, resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.resume = resume
        check_writable(self.path)
        if not (resume or overwrite):
            refuse_to_replace(self.path)
        flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if resume else 0)
        self._fd: int | None = os.open(self.path, flags, 0o644)
        try:
            _lock(self._fd, self.path)
            if resume:
                _trim_torn_tail(self._fd)
            else:
                os.ftruncate(self._fd, 0)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise
        self.written = 0

    def done(self, fingerprint: str) -> set[str]:
        """Inputs whose newest record is a success made with ``fingerprint``."""
        return done_inputs(self.path, fingerprint) if self.resume else set()

    def write(self, record: dict[str, Any]) -> None:
        assert self._fd is not None, "records file is closed"
        line = json.dumps(redact_data(record), ensure_ascii=False) + "\n"
        # a lone surrogate (only in error texts: values never carry one) becomes a \u escape
        data = memoryview(line.encode("utf-8", "backslashreplace"))
        while data:
            data = data[os.write(self._fd, data):]
        self.written += 1

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            if self.resume:
                _compact(self.path)
        finally:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> RecordsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StdoutRecords:
    """The same interface over stdout (no file: nothing to check, lock or resume)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self.written = 0

    def done(self, fingerprint: str) -> set[str]:
        return set()

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(redact_data(record), ensure_ascii=False) + "\n")
        self._out.flush()
        self.written += 1

    def close(self) -> None:
        pass


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(
            f"{path}: another extractkit run is writing this file; wait for it to finish "
            "or choose another --output"
        ) from None


def _trim_torn_tail(fd: int) -> None:
    """Cut a last line that has no newline (the write a killed run did not finish)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    pos = size
    block = 4096
    while pos > 0:
        start = max(0, pos - block)
        chunk = os.pread(fd, pos - start, start)
        if start + len(chunk) == size and chunk.endswith(b"\n"):
            return  # ends cleanly
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        pos = start
    os.ftruncate(fd, 0)


def done_inputs(path: str | Path, fingerprint: str) -> set[str]:
    """Inputs of the records file ``path`` whose newest record is a success made
    with ``fingerprint`` (read only: ``--dry-run --resume``); none if it does not exist."""
    path = Path(path)
    if not path.is_file():
        return set()
    latest: dict[str, dict[str, Any]] = {}
    for record in _records(path):
        latest[str(record.get("input"))] = record
    return {key for key, record in latest.items()
            if record.get("ok") and record.get("fingerprint") == fingerprint}


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as src:
        for line in src:
            if not line.endswith(b"\n"):
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record


def _compact(path: Path) -> None:
    """Keep the newest record per input, in the order inputs first appeared."""
    newest: dict[str, int] = {}
    count = 0
    with path.open("rb") as src:
        for number, line in enumerate(src):
            count += 1
            key = _input_of(line)
            if key is not None:
                newest[key] = number
    if len(newest) == count:
        return  # nothing to drop
    tmp = path.with_name(path.name + ".compact-tmp")
    keep = set(newest.values())
    with path.open("rb") as src, tmp.open("wb") as dst:
        for number, line in enumerate(src):
            if number in keep:
                dst.write(line)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)


def _input_of(line: bytes) -> str | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return str(record.get("input")) if isinstance(record, dict) else None


__all__ = ["OutputError", "RecordsFile", "StdoutRecords", "check_writable", "refuse_to_replace"]
