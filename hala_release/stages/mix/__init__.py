"""The `mix` stage."""
