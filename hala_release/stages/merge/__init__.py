"""The `merge` stage."""
