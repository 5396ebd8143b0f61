"""Prompt templates shipped with the package (YAML)."""
