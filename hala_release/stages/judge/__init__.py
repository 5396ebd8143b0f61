"""The `judge` stage."""
