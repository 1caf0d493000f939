"""attn: a command-line training toolkit for attention models on text and EEG."""

__version__ = "0.1.0"
