"""The provider Batch API: see :mod:`extractkit.drivers.batch_api` (re-exported here)."""

from __future__ import annotations

from .drivers.batch_api import (
    ENDPOINT,
    TERMINAL_STATUSES,
    BatchAPI,
    batch_line,
    run_jobs,
)

__all__ = ["ENDPOINT", "TERMINAL_STATUSES", "BatchAPI", "batch_line", "run_jobs"]
