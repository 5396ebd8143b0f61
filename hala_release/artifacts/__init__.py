"""Artifact folders: building them (data + provenance + card), rendering and validating cards, facts read from inputs."""
