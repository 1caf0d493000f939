"""Using trained runs: load a model, sample text, re-evaluate, draw attention maps."""

from attn.inference.load import TrainedModel, checkpoint_path, load_trained
from attn.inference.sample import check_sampling, check_window, sample_batch, sample_tokens

__all__ = [
    "TrainedModel",
    "check_sampling",
    "check_window",
    "checkpoint_path",
    "load_trained",
    "sample_batch",
    "sample_tokens",
]
