"""Character-level text data: bundled corpora or user files, one shared vocabulary, 90/10 splits.

Each corpus is split into its first ``1 - val_fraction`` for training and its last
``val_fraction`` for validation. Several corpora share one vocabulary (the sorted set of their
characters); training windows never cross from one corpus into another.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from attn.errors import DataError, RecipeError, UserError, describe_os_error
from attn.fileio import check_file, format_bytes, path_kind
from attn.process import check_memory
from attn.schema import option

BUILTIN_CORPORA = {"tinyshakespeare": "tinyshakespeare.txt", "alice": "alice.txt"}
BYTES_PER_CHARACTER = 13  # reading a corpus holds its bytes (1), its text (up to 4) and its int64 token ids (8)


@dataclass
class TextDataConfig:
    """The ``data`` section of a text recipe."""

    corpora: list[str] = option(
        ["tinyshakespeare"],
        help="built-in corpus names (tinyshakespeare, alice) or paths to UTF-8 text files "
        "(relative to the recipe file's folder)",
        path=True,
        names=tuple(BUILTIN_CORPORA),
    )
    val_fraction: float = option(
        0.1,
        help="fraction at the end of each corpus held out for validation",
        min=0.0,
        max=0.5,
        min_exclusive=True,
    )

    def validate(self, section: str) -> None:
        if not self.corpora:
            raise RecipeError(f"recipe key '{section}.corpora' must name at least one corpus")


class Vocabulary:
    """A character vocabulary: the sorted distinct characters of the training corpora."""

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_texts(cls, texts: list[str]) -> Vocabulary:
        return cls(sorted(set().union(*map(set, texts))))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that are not in the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    @functools.cached_property
    def _table(self) -> np.ndarray:
        """Token id by code point (-1: not in the vocabulary); the last entry stands for every larger code point."""
        codes = np.fromiter(map(ord, self.chars), dtype=np.int64, count=len(self.chars))
        table = np.full(int(codes.max(initial=0)) + 2, -1, dtype=np.int64)
        table[codes] = np.arange(len(codes))
        return table

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``; a character outside the vocabulary is a :class:`UserError`.

        Vectorised (code points through a lookup table): tinyshakespeare's 1.1M characters take
        milliseconds, where a Python loop over them took about 90 ms.
        """
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        ids = self._table[np.minimum(codes, len(self._table) - 1)]
        if ids.size and ids.min() < 0:
            missing = self.unknown(text)
            shown = ", ".join(repr(c) for c in missing[:20])
            raise UserError(
                f"the text contains {len(missing)} character(s) that are not in the model's vocabulary: {shown}"
            )
        return ids

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_list(self) -> list[str]:
        return list(self.chars)


@dataclass
class Corpus:
    """One corpus: its name, its training and validation token ids."""

    name: str
    train: np.ndarray
    val: np.ndarray


@dataclass
class TextData:
    """The corpora of a recipe, encoded with their shared vocabulary."""

    vocab: Vocabulary
    corpora: list[Corpus]

    @property
    def train_chars(self) -> int:
        return sum(len(c.train) for c in self.corpora)

    @property
    def val_chars(self) -> int:
        return sum(len(c.val) for c in self.corpora)


def builtin_corpus_path(name: str) -> Path:
    """Path of a corpus bundled inside the package."""
    return Path(str(resources.files("attn.datasets").joinpath("corpora", BUILTIN_CORPORA[name])))


def read_corpus(source: str) -> tuple[str, str]:
    """(display name, text) of a built-in corpus name or a path to a UTF-8 text file."""
    if source in BUILTIN_CORPORA:
        return source, builtin_corpus_path(source).read_text(encoding="utf-8")
    path = Path(source).expanduser()
    if path_kind(path, "corpus", DataError) == "missing":
        raise DataError(
            f"corpus '{source}' is neither a built-in corpus ({', '.join(BUILTIN_CORPORA)}) nor an existing file"
        )
    check_file(path, "corpus", DataError)
    check_memory(
        path.stat().st_size * BYTES_PER_CHARACTER,
        f"corpus '{source}' ({format_bytes(path.stat().st_size)} of text)",
        "use a smaller corpus",
    )
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"corpus {describe_os_error(err)}") from None
    if not raw.strip():
        raise DataError(f"corpus file '{source}' is empty")
    if b"\x00" in raw[:65536]:
        raise DataError(f"corpus file '{source}' looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"corpus file '{source}' is not valid UTF-8 (byte {err.start}: {err.reason})") from None
    return path.stem, text


def load_text_data(cfg: TextDataConfig, block_size: int, vocab: Vocabulary | None = None) -> TextData:
    """Read, split and encode the recipe's corpora.

    ``vocab`` is given when a run is resumed or evaluated: the data are then encoded with the
    checkpoint's vocabulary, and characters it lacks are an error.
    """
    named = [read_corpus(source) for source in cfg.corpora]
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise DataError(f"the recipe lists a corpus twice: {names}")
    vocab = vocab or Vocabulary.from_texts([text for _, text in named])
    corpora = []
    for source, (name, text) in zip(cfg.corpora, named):
        try:
            ids = vocab.encode(text)
        except UserError as err:  # a corpus changed since the model was trained on it: say which
            raise DataError(f"corpus '{source}': {err}") from None
        n_val = int(round(len(ids) * cfg.val_fraction))
        train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
        for split, arr in (("training", train), ("validation", val)):
            if len(arr) < block_size + 1:
                raise DataError(
                    f"corpus '{name}' is too short: its {split} split has {len(arr)} characters, "
                    f"and block_size {block_size} needs at least {block_size + 1} "
                    f"(use a longer text, a smaller model.block_size or another data.val_fraction)"
                )
        corpora.append(Corpus(name, train, val))
    return TextData(vocab, corpora)
