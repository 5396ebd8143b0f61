"""The `chat-mix` stage."""
