"""`attn generate` options: --prompt (alias --seed), --prompt-file (and stdin), greedy at temperature 0,
--top-p, batched --num-samples with one seed per sample, and the start-up profile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from attn.cli import app
from attn.inference import load_trained, sample_tokens
from tests.helpers import run_cli, train_tiny_text_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_text_run(tmp_path_factory.mktemp("generate"), steps=10)


def generate(run: Path, *args: object, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, ["generate", str(run), *map(str, args)], input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(run: Path, *args: object) -> str:
    result = run_cli("generate", run, *args)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


SAMPLE = ("--length", 30, "--random-seed", 4)


def test_prompt_and_its_alias_seed_are_one_option(run: Path) -> None:
    text = generate(run, "--prompt", "To be", *SAMPLE)
    assert text.startswith("To be") and len(text) == len("To be") + 30 + 1
    for name in ("--seed", "-p", "-s"):
        assert generate(run, name, "To be", *SAMPLE) == text


def test_prompt_from_a_file_or_standard_input(run: Path, tmp_path: Path) -> None:
    prompt = "Whether tis nobler\nto be"
    (tmp_path / "prompt.txt").write_text(prompt, encoding="utf-8")
    text = generate(run, "--prompt", prompt, *SAMPLE)
    assert generate(run, "--prompt-file", tmp_path / "prompt.txt", *SAMPLE) == text
    assert generate(run, "--prompt-file", "-", *SAMPLE, stdin=prompt) == text


def test_bad_prompts_are_one_line_errors(run: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert "not both" in fails(run, "--prompt", "x", "--prompt-file", tmp_path / "empty.txt")
    assert "is empty" in fails(run, "--prompt-file", tmp_path / "empty.txt")
    assert "does not exist" in fails(run, "--prompt-file", tmp_path / "nope.txt")
    assert "not UTF-8" in fails(run, "--prompt-file", tmp_path / "latin1.txt")
    assert "--prompt is empty" in fails(run, "--prompt", "")
    assert "not a regular file" in fails(run, "--prompt-file", "/dev/zero")  # never read forever
    assert "is a folder" in fails(run, "--prompt-file", tmp_path)


def test_a_batch_of_samples_that_cannot_fit_in_memory_is_refused_with_its_estimate(run: Path) -> None:
    message = fails(run, "--num-samples", 10**11, "--length", 5)
    assert "--num-samples 100,000,000,000 needs about" in message and "available" in message


def test_temperature_zero_is_greedy_decoding(run: Path) -> None:
    text = generate(run, "--prompt", "To", "--length", 25, "--temperature", 0, "--random-seed", 1)
    assert generate(run, "--prompt", "To", "--length", 25, "-t", 0, "--random-seed", 2) == text
    trained = load_trained(run)
    prompt = torch.from_numpy(trained.vocab.encode("To"))
    with torch.no_grad():  # argmax of the full forward at every step
        ids = prompt[None]
        for _ in range(25):
            ids = torch.cat([ids, trained.model(ids[:, -trained.model.block_size :])[:, -1:].argmax(-1)], dim=1)
    assert text == trained.vocab.decode(ids[0]) + "\n"


def test_top_p_and_temperature_ranges(run: Path) -> None:
    nucleus = generate(run, "--prompt", "To", "--top-p", 0.5, *SAMPLE)
    trained = load_trained(run)
    prompt = torch.from_numpy(trained.vocab.encode("To"))
    expected = sample_tokens(
        trained.model, prompt, 30, temperature=0.8, top_p=0.5, generator=torch.Generator().manual_seed(4)
    )
    assert nucleus == "To" + trained.vocab.decode(list(expected)) + "\n"
    assert "--top-p must be in (0, 1]" in fails(run, "--top-p", 0)
    assert "--top-p must be in (0, 1]" in fails(run, "--top-p", 1.5)
    assert "--temperature must be a finite number >= 0" in fails(run, "--temperature", -1)


def test_samples_of_one_batch_are_the_samples_of_consecutive_seeds(run: Path) -> None:
    batch = generate(run, "--prompt", "To", "--length", 30, "--num-samples", 3, "--random-seed", 11)
    alone = [generate(run, "--prompt", "To", "--length", 30, "--random-seed", seed) for seed in (11, 12, 13)]
    assert batch == "".join(alone)
    assert len(set(alone)) == 3


def test_the_key_value_cache_does_not_change_the_text(run: Path) -> None:
    long = ("--length", 40, "--random-seed", 3)  # beyond block_size 16: the cache gives way to the sliding window
    cached = generate(run, "--prompt", "To", "--window", "slide", *long)
    assert cached == generate(run, "--prompt", "To", "--no-kv-cache", *long)  # which slides by default


def test_the_shifting_window_is_the_default_and_what_the_library_samples_and_needs_the_cache(run: Path) -> None:
    long = ("--length", 40, "--random-seed", 3)  # block_size 16: the window shifts twice
    shifted = generate(run, "--prompt", "To", "--window", "shift", *long)
    assert generate(run, "--prompt", "To", *long) == shifted
    trained = load_trained(run)
    prompt = torch.from_numpy(trained.vocab.encode("To"))
    generator = torch.Generator().manual_seed(3)  # the command's default temperature is 0.8
    expected = sample_tokens(trained.model, prompt, 40, temperature=0.8, generator=generator, window="shift")
    assert shifted == "To" + trained.vocab.decode(list(expected)) + "\n"
    assert "--window shift reads on with the key/value cache" in fails(run, "--window", "shift", "--no-kv-cache")
    assert "--window must be slide or shift (got 'wrap')" in fails(run, "--window", "wrap")


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(
    ("flag", "device", "expected"),
    [
        (None, "cpu", False),
        pytest.param(None, "cuda", True, marks=NO_CUDA),
        pytest.param("--no-cuda-graphs", "cuda", False, marks=NO_CUDA),
    ],
)
def test_cuda_graphs_are_asked_for_only_on_a_cuda_device(
    run: Path, monkeypatch: pytest.MonkeyPatch, flag: str | None, device: str, expected: bool
) -> None:
    import attn.inference

    seen: dict = {}
    sample_batch = attn.inference.sample_batch

    def spy(*args: object, **kwargs: object):
        seen.update(kwargs)
        return sample_batch(*args, **kwargs)

    monkeypatch.setattr(attn.inference, "sample_batch", spy)
    text = generate(run, "--prompt", "To", "--device", device, *([flag] if flag else []), *SAMPLE)
    assert seen["cuda_graphs"] is expected
    assert text == generate(run, "--prompt", "To", "--device", device, "--no-cuda-graphs", *SAMPLE)


def test_help_names_both_spellings_of_the_prompt_and_no_raw_newline_default() -> None:
    out = CliRunner().invoke(app, ["generate", "--help"], env={"COLUMNS": "250"}).stdout
    assert "--prompt" in out and "--seed" in out and "--prompt-file" in out and "--top-p" in out
    assert "(default: a newline)" in out and not re.search(r"\[default:\s*\n", out)  # not a raw newline


@pytest.mark.slow
def test_the_start_up_profile_ends_at_the_first_character(run: Path) -> None:
    env = {**os.environ, "ATTN_PROFILE_STARTUP": "1"}
    command = [sys.executable, "-m", "attn", "generate", run, "-p", "To", "-n", "5", "--random-seed", "0"]
    err = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stderr
    line = next(x for x in err.splitlines() if x.startswith("start-up"))
    for phase in ("python", "imports", "load", "first character"):
        assert f" {phase} " in line, line
