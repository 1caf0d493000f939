"""Imports every built-in model module so that each registers its recipe name."""

from attn.models import char_lstm, char_transformer, eeg_braindecode, eeg_cnn, eeg_latency, eeg_sparse, eegnex  # noqa: F401
