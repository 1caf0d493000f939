"""Start-up: summary.json splits setup_s into phases; the compile cache persists; torch._dynamo can load on a thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torch._inductor.runtime.cache_dir_utils import default_cache_dir

from attn.errors import UserError
from attn.process import user_cache_dir
from attn.training.device import INDUCTOR_CACHE_ENV, start_dynamo_import, use_persistent_compile_cache
from tests.helpers import only_run_dir


@pytest.mark.slow
def test_summary_splits_the_set_up_into_phases_that_add_up(tmp_path: Path, recipe_file: Path) -> None:
    command = [sys.executable, "-m", "attn", "train", recipe_file, "--runs-dir", tmp_path, "train.max_steps=6"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    phases = summary["setup_phases_s"]
    expected = "python imports runtime data preflight model optimizer estimate other"
    assert list(phases) == expected.split()
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) == pytest.approx(summary["setup_s"], abs=0.01)
    assert summary["process_clock"] == "kernel"
    assert summary["setup_s"] < summary["process_wall_s"]
    row = next(line for line in out.stderr.splitlines() if "set-up before step 1" in line)  # tables go to stderr
    assert f"{summary['setup_s']:.2f} = python" in row and "+ imports" in row


def test_the_compile_cache_moves_to_the_user_cache_unless_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(INDUCTOR_CACHE_ENV, raising=False)
    assert use_persistent_compile_cache() == user_cache_dir() / "inductor" == Path(os.environ[INDUCTOR_CACHE_ENV])
    monkeypatch.setenv(INDUCTOR_CACHE_ENV, default_cache_dir())  # what torch itself sets when it is first imported
    assert use_persistent_compile_cache() == user_cache_dir() / "inductor"
    monkeypatch.setenv(INDUCTOR_CACHE_ENV, str(tmp_path / "mine"))  # the user's choice stays
    assert use_persistent_compile_cache() == tmp_path / "mine"


def test_a_compile_cache_that_cannot_be_written_is_left_to_torch_or_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """torch._dynamo (which every optimizer imports) fails to import on a cache folder it cannot create."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.delenv(INDUCTOR_CACHE_ENV, raising=False)
    monkeypatch.setenv("ATTN_CACHE", str(blocker))
    assert use_persistent_compile_cache() is None and INDUCTOR_CACHE_ENV not in os.environ  # torch's default stays
    monkeypatch.setenv(INDUCTOR_CACHE_ENV, str(blocker / "inductor"))  # the user's own choice: named
    with pytest.raises(UserError, match=f"{INDUCTOR_CACHE_ENV}='.*a-file/inductor' is not a folder"):
        use_persistent_compile_cache()


def test_torch_dynamo_is_imported_on_a_thread_only_where_a_gpu_is_and_not_for_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert start_dynamo_import() is None
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setenv("ATTN_PRELOAD_DYNAMO", "0")
    assert start_dynamo_import() is None
    code = (
        "import sys, torch; torch.cuda.is_available = lambda: True\n"
        "from attn.training.device import start_dynamo_import, use_persistent_compile_cache\n"
        "use_persistent_compile_cache()\n"
        "assert 'torch._dynamo' not in sys.modules and 'torch._inductor' not in sys.modules\n"
        "thread = start_dynamo_import(); thread.join()\n"
        "print(thread.name, 'torch._dynamo' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ATTN_PRELOAD_DYNAMO"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["import-dynamo", "True"]
