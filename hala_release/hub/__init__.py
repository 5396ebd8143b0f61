"""The Hub: publishing an artifact as one commit, wrapping a user's own folder, and reading lineage back."""
