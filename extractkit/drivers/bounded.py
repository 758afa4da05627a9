"""A blocking call with a hard wall-clock bound (the extraction's deadline).

The SDK's ``timeout`` bounds each *read*, so a server that trickles one
byte every half second never trips it. :func:`call_within` runs the call on
a daemon worker thread and waits at most ``seconds`` for it: past that it
raises :class:`Overdue` and leaves the call behind (it ends on its own when
its socket does; being a daemon thread, it never keeps the process alive,
so Ctrl-C and exit are immediate too). Workers are reused, so a call costs
one hand-over between threads, not a thread start. The call runs in a copy of
the caller's context (:mod:`contextvars`), so what the caller set there --
a tracing span, say -- is seen by the call as if it ran on the caller's thread.

The ``openai`` backends do not need it: they cut their own calls in the HTTP
layer (:mod:`extractkit.backends.http_deadline`); this is for every other backend.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any


class Overdue(Exception):
    """The call did not return within its bound (it is still running, abandoned)."""


class _Box:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: BaseException | None = None


_Task = tuple[contextvars.Context, Callable[[Any], Any], Any, _Box]
_tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
_idle = 0
_idle_lock = threading.Lock()


def _work(task: _Task) -> None:
    global _idle
    while True:
        context, fn, arg, box = task
        try:
            box.value = context.run(fn, arg)
        except BaseException as exc:  # handed to the caller, whatever it is
            box.error = exc
        box.done.release()
        del context, fn, arg, box
        with _idle_lock:
            _idle += 1
        task = _tasks.get()


def _submit(task: _Task) -> None:
    global _idle
    with _idle_lock:
        reuse = _idle > 0
        if reuse:
            _idle -= 1
    if reuse:
        _tasks.put(task)
    else:
        threading.Thread(target=_work, args=(task,), name="extractkit-call", daemon=True).start()


def call_within(fn: Callable[[Any], Any], arg: Any, seconds: float | None) -> Any:
    """``fn(arg)``, but raise :class:`Overdue` if it takes more than ``seconds``
    (``None``: no bound, called on this thread)."""
    if seconds is None:
        return fn(arg)
    if seconds <= 0:
        raise Overdue
    box = _Box()
    _submit((contextvars.copy_context(), fn, arg, box))
    if not box.done.acquire(timeout=seconds):  # interruptible: Ctrl-C lands here
        raise Overdue
    if box.error is not None:
        error, box.error = box.error, None
        raise error
    return box.value
