"""`pipeline run`: a recipe of stages, planned and run in order."""
