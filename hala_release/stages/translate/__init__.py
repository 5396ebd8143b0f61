"""The `translate` stage."""
