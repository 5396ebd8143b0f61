"""Core: refs, provenance, licences, text normalisation, segmentation, dataset layouts, prompts, errors. Imports nothing else of the package."""
