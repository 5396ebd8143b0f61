"""Stages: one subpackage per stage kind; `registry` lists them for the CLI, recipes and Python."""
