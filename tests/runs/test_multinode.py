"""Several machines: two torchrun launches that claim different node ranks meet through c10d rendezvous.

Each "node" has its own runs folder, as separate machines have separate disks. Only the process
with global rank 0 writes (not every node's local rank 0), so one folder gets the whole run and
the other gets nothing. With c10d, rendezvous decides which node's process becomes rank 0.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_two_nodes(recipe: Path, runs_dirs: tuple[Path, Path]) -> list[tuple[int, str]]:
    """Two torchrun "nodes" meeting at a free local port; (return code, stderr) of each.

    Node 0 hosts the rendezvous store (``is_host``), so the two never race to bind the port. A port
    that something else took between :func:`free_port` and the bind can still stall the rendezvous:
    that raises ``subprocess.TimeoutExpired`` after both launches are stopped.
    """
    endpoint = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launches = []
    for node, runs_dir in enumerate(runs_dirs):
        command = [
            *(sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1"),
            *("--node-rank", str(node), "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint),
            *("--rdzv-id", "attn-test", "--rdzv-conf", f"is_host={int(node == 0)}"),
            *("-m", "attn", "train", str(recipe), "--runs-dir", str(runs_dir), "-q"),
        ]
        launches.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
            )
        )
    try:
        errors = [launch.communicate(timeout=150)[1] for launch in launches]  # reads the pipes while waiting
        return [(launch.returncode, err) for launch, err in zip(launches, errors)]
    finally:
        for launch in launches:
            if launch.poll() is None:
                os.killpg(launch.pid, signal.SIGKILL)  # torchrun and the worker it started
                launch.communicate()


@pytest.mark.slow
def test_two_nodes_write_one_run_directory(tmp_path: Path, corpus: Path, make_recipe: object) -> None:
    recipe = tmp_path / "nodes.yaml"
    recipe.write_text(yaml.safe_dump(make_recipe(corpus, batch_size=8, max_steps=12, eval_interval=6, loggers=["csv"])))
    try:
        results = launch_two_nodes(recipe, (tmp_path / "node0" / "runs", tmp_path / "node1" / "runs"))
    except subprocess.TimeoutExpired:  # the port was taken under us (see launch_two_nodes): once more, on a new port
        shutil.rmtree(tmp_path / "node0", ignore_errors=True)
        shutil.rmtree(tmp_path / "node1", ignore_errors=True)
        results = launch_two_nodes(recipe, (tmp_path / "node0" / "runs", tmp_path / "node1" / "runs"))
    for code, err in results:
        assert code == 0, err[-3000:]
    written = {node: sorted((tmp_path / f"node{node}").rglob("*")) for node in (0, 1)}
    assert sorted(len(files) > 0 for files in written.values()) == [False, True], written
    (run,) = [p.parent for files in written.values() for p in files if p.name == "recipe.yaml"]
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 12
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "metrics.csv").is_file()
    train_steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert train_steps == sorted(train_steps), "one writer"


def test_train_help_shows_the_several_machines_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import run_cli

    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli("train", "--help")
    command = "torchrun --nnodes N --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m attn train RECIPE"
    assert result.exit_code == 0 and command in result.output
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert command in readme
