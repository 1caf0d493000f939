"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (recipe, file, prompt, checkpoint), not a bug in attn."""

    exit_code = 2


class RecipeError(UserError):
    """A recipe that cannot be loaded: malformed YAML, an unknown key or an invalid value."""


class DataError(UserError):
    """A data source that cannot be used: missing, empty, binary or too short."""


class CheckpointError(UserError):
    """A checkpoint or run directory that cannot be read."""


class TrainingDiverged(UserError):
    """The loss became NaN or Inf; the last good checkpoint is kept. Its own exit code (3), so that a
    script can tell a diverged run (try other settings) from bad input (exit code 2)."""

    exit_code = 3
