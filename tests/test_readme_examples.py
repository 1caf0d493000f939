"""The README's tracker, export and scripting examples, run as written, one after the other, in one shell."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Experiment trackers", "Export", "Scripting")


def section_commands(title: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


@pytest.mark.slow
def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the README's tracker example needs attn[tensorboard]")
    pytest.importorskip("onnxruntime", reason="the README's export example needs attn[export]")
    blocks = [block for title in SECTIONS for block in section_commands(title)]
    assert len(blocks) == len(SECTIONS)
    script = "set -euo pipefail\n" + "\n".join(blocks) + "\n"
    env = {k: v for k, v in os.environ.items() if k != "ATTN_RUNS_DIR"}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted((tmp_path / "runs" / "shakespeare_char_cpu").iterdir())
    (tracked,) = [r for r in runs if (r / "metrics.csv").is_file()]  # the tracker example's run
    assert any((tracked / "tensorboard").iterdir())
    assert {"best.safetensors", "best.state_dict.pt", "best.state_dict.json"} <= {
        p.name for p in (tracked / "export").iterdir()
    }
    assert (tmp_path / "shakespeare.onnx").is_file()
    assert (tmp_path / "sample.txt").read_text(encoding="utf-8").startswith("To be")
    (scripted,) = [r for r in runs if (r / "export" / "best.safetensors.eval-val.json").is_file() and r != tracked]
    val_loss = json.loads((scripted / "export" / "best.safetensors.eval-val.json").read_text())["metrics"]["val_loss"]
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(val_loss, rel=1e-12)
    best = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"step"')]
    assert [b["step"] for b in best] == [20]  # `attn train ... --json | jq -c .best`
