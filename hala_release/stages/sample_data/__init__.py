"""The `sample-data` stage."""
