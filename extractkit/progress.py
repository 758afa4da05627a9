"""The CLI's live progress on a terminal: a spinner for one slow input.

Shown on stderr only when it is a TTY (never in pipes, files or tests that
capture output). The batch display is ``cli._BatchProgress`` over a
:class:`~extractkit.tally.Tally`; this module is the one-input twin: the
input's name, its attempt number and the elapsed time, updated while the
model works. Attempts are counted from the loop's "re-asking" log records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

_LOOP_LOGGER = "extractkit"
_REASK_PREFIX = "attempt "  # loop.py: "attempt %d invalid, re-asking: ..."


def is_terminal(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


class _Attempts(logging.Handler):
    """Counts re-asks as the loop logs them and updates the spinner's text."""

    def __init__(self, on_attempt: Any) -> None:
        super().__init__(logging.INFO)
        self.number = 1
        self._on_attempt = on_attempt

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(_REASK_PREFIX) and "re-asking" in record.getMessage():
            self.number += 1
            self._on_attempt(self.number)


def describe(name: str, attempt: int) -> str:
    """The spinner's text: ``person.txt: attempt 2``."""
    return f"{name}: attempt {attempt}"


@contextmanager
def spinner(name: str, err: IO[str]) -> Iterator[None]:
    """While the block runs, a spinner with ``name``, the attempt and the elapsed time
    on ``err`` — if ``err`` is a terminal; otherwise nothing at all."""
    if not is_terminal(err):
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=Console(file=err), transient=True,
    )  # fmt: skip
    task = progress.add_task(describe(name, 1))
    handler = _Attempts(lambda n: progress.update(task, description=describe(name, n)))
    logger = logging.getLogger(_LOOP_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    progress.start()
    try:
        yield
    finally:
        progress.stop()
        logger.removeHandler(handler)
        logger.setLevel(level)
