"""Executors: numbered resumable chunks run locally, as Slurm shards, or on Ray."""
