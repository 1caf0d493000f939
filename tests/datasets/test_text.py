"""Text data: bundled corpora, splits, vocabulary, windows, and clear errors for bad files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from attn.datasets.text import TextDataConfig, Vocabulary, builtin_corpus_path, load_text_data
from attn.errors import DataError, UserError
from attn.tasks.text import WindowSampler

# From ../shared/data/corpora/SOURCES.md: the bundled copies must be byte for byte the originals.
SOURCES = {
    "tinyshakespeare": (1115394, 65, "6fb458f1232090904fb40fe944165e91"),
    "alice": (144396, 73, "71f666b608285153d85a961a40bb8c19"),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_bundled_corpora_are_the_originals(name: str) -> None:
    size, distinct, md5 = SOURCES[name]
    raw = builtin_corpus_path(name).read_bytes()
    assert hashlib.md5(raw).hexdigest() == md5
    text = raw.decode("utf-8")
    assert len(text) == size and len(set(text)) == distinct


def test_tinyshakespeare_split_is_the_standard_90_10() -> None:
    data = load_text_data(TextDataConfig(corpora=["tinyshakespeare"]), block_size=256)
    (corpus,) = data.corpora
    n = SOURCES["tinyshakespeare"][0]
    assert len(corpus.train) + len(corpus.val) == n
    assert len(corpus.val) == round(0.1 * n)
    text = builtin_corpus_path("tinyshakespeare").read_text(encoding="utf-8")
    assert data.vocab.decode(corpus.val[:50]) == text[len(corpus.train) : len(corpus.train) + 50]


def test_several_corpora_share_one_vocabulary() -> None:
    data = load_text_data(TextDataConfig(corpora=["tinyshakespeare", "alice"]), block_size=64)
    text = builtin_corpus_path("tinyshakespeare").read_text() + builtin_corpus_path("alice").read_text()
    assert data.vocab.chars == sorted(set(text))
    assert [c.name for c in data.corpora] == ["tinyshakespeare", "alice"]


def test_vocabulary_round_trip_and_unknown_characters() -> None:
    vocab = Vocabulary.from_texts(["hello world"])
    assert vocab.decode(vocab.encode("hello")) == "hello"
    with pytest.raises(UserError, match=r"2 character\(s\).*'Z', '!'"):
        vocab.encode("hello Z!Z")


def test_encoding_is_the_character_by_character_lookup() -> None:
    text = builtin_corpus_path("alice").read_text(encoding="utf-8") + "na\u0308ive \U0001f600 \u00e9"
    vocab = Vocabulary.from_texts([text])
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.tolist() == [vocab.index[c] for c in text]
    assert vocab.encode("").shape == (0,)
    small = Vocabulary(["b", "a"])  # any order of characters, as a checkpoint lists them
    assert small.encode("abba").tolist() == [1, 0, 0, 1]
    with pytest.raises(UserError, match=re.escape("3 character(s)") + ".*" + re.escape(r"'c', '\udcff', '\U0010ffff'")):
        small.encode("ac\udcffb\U0010ffff")  # a lone surrogate (from undecodable bytes) and the last code point


def test_windows_never_cross_corpora() -> None:
    a = torch.zeros(50, dtype=torch.int16)  # corpus A is all token 0
    b = torch.ones(30, dtype=torch.int16)  # corpus B is all token 1
    sampler = WindowSampler([a, b], block_size=8, batch_size=256, seed=0)
    x, y = sampler.next()
    full = torch.cat([x, y[:, -1:]], dim=1)
    assert ((full == 0).all(1) | (full == 1).all(1)).all(), "a window mixed two corpora"
    # Every valid start is reachable: A has 50 - 8 starts, B has 30 - 8.
    assert sampler.total_valid == (50 - 8) + (30 - 8)
    assert (full == 1).all(1).any() and (full == 0).all(1).any()


def test_window_targets_are_inputs_shifted_by_one() -> None:
    tokens = torch.arange(100, dtype=torch.int16)
    x, y = WindowSampler([tokens], block_size=5, batch_size=16, seed=1).next()
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)


def test_missing_empty_binary_and_non_utf8_files(tmp_path: Path) -> None:
    cases = {
        "missing.txt": None,
        "empty.txt": b"   \n",
        "binary.bin": b"\x89PNG\r\n\x1a\n\x00\x00\x00" * 100,
        "latin1.txt": "caf\u00e9 ".encode("latin-1") * 200,
    }
    messages = {
        "missing.txt": "neither a built-in corpus",
        "empty.txt": "is empty",
        "binary.bin": "looks binary",
        "latin1.txt": "not valid UTF-8",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(DataError, match=messages[name]):
            load_text_data(TextDataConfig(corpora=[str(path)]), block_size=8)


def test_too_short_corpus_names_the_split_and_the_need(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("abcdefghij" * 20)  # 200 chars: val split has 20
    with pytest.raises(DataError, match=r"validation split has 20 characters, and block_size 32 needs at least 33"):
        load_text_data(TextDataConfig(corpora=[str(path)]), block_size=32)
    data = load_text_data(TextDataConfig(corpora=[str(path)]), block_size=8)
    assert len(data.corpora[0].train) == 180
    assert np.array_equal(data.corpora[0].val, data.vocab.encode(("abcdefghij" * 20)[180:]))
