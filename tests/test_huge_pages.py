"""The command line's processes do not ask for transparent huge pages for NumPy's arrays (champollion/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Prints whether NumPy asked for huge pages, once champollion is imported first (as the command line does).
_PROBE = "import champollion, numpy; print(numpy._core.multiarray._set_madvise_hugepage(False))"


@pytest.mark.parametrize(("setting", "expected"), [(None, "False"), ("1", "True")])
def test_numpy_asks_for_no_huge_pages_unless_told_to(setting, expected):
    env = {name: value for name, value in os.environ.items() if name != "NUMPY_MADVISE_HUGEPAGE"}
    if setting is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = setting
    probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == expected
