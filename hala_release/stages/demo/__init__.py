"""The `demo` stage."""
