"""Built-in recipes, shipped inside the package as attn.recipes (see pyproject.toml)."""
