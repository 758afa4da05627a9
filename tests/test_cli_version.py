"""`extractkit --version` names the installed version."""

from __future__ import annotations

import subprocess
import sys

import extractkit


def test_version_flag_prints_the_package_version() -> None:
    done = subprocess.run([sys.executable, "-m", "extractkit.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"extractkit {extractkit.__version__}"
