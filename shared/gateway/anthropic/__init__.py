"""The Anthropic Messages API as clients see it."""
