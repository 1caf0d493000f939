"""Built-in recipes (package data, so any install has them; `recipes/` at the top of the repository links here)."""
