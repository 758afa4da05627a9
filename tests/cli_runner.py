"""Run the CLI in process, as the tests do: ``run_cli(*argv) -> (exit code, stdout, stderr)``."""

from __future__ import annotations

import io

from extractkit.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
