"""Models: plain ``nn.Module`` classes, each registered under the name a recipe uses.

Importing this package registers every built-in model.
"""

from attn.models.registry import ModelSpec, build_model, get_model_spec, model_specs, register_model

__all__ = ["ModelSpec", "build_model", "get_model_spec", "model_specs", "register_model"]
