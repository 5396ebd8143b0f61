"""The `tiny-model` stage."""
