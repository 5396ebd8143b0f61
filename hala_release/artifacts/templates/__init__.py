"""Jinja templates of dataset and model cards (package data)."""
