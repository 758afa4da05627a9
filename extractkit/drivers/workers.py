"""A thread pool of daemon workers, for the blocking batch driver.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the
interpreter exits, so one request hanging on a silent server (or a worker
sleeping on a long ``Retry-After``) keeps a Ctrl-C'd ``extractkit run`` alive
until it ends. These workers are daemon threads: once the consumer has
stopped, exit is immediate. Futures are the standard ones.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_Task = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """Up to ``workers`` daemon threads, started as work arrives."""

    def __init__(self, workers: int, *, name: str = "extractkit-worker") -> None:
        self._max = workers
        self._name = name
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((future, fn, args))
        if len(self._threads) < self._max:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self._name}-{len(self._threads)}")
            self._threads.append(thread)
            thread.start()
        return future

    def shutdown(self) -> None:
        """Workers end after their current task; tasks not started (cancelled) are skipped."""
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # the consumer sees it on the future
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args, task
