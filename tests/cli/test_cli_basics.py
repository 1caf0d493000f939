"""The command line starts without loading torch (help and errors are instant)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, attn.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "attn", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("train", "generate", "eval", "recipes", "bench"):
        assert command in out
