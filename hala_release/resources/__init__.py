"""Shipped data: sample datasets, prompt templates, eval fixtures and the demo Space's source."""
