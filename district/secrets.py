"""A secret still holding the placeholder that `.env.example` ships with is refused at start:
copying the example gives a stack that runs, and must not give one that runs a plant."""

from __future__ import annotations

# every value in .env.example that opens something starts with this
PLACEHOLDER = "change-me"


def is_placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER)
