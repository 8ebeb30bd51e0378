"""Errors of the model layer: each names the file, key or limit that is wrong, so a user can fix it."""

from __future__ import annotations


class ModelError(ValueError):
    """A model file, key or input is unusable; the message names it."""


class CheckpointKeyError(ModelError):
    """A checkpoint lacks a key, has an unexpected one, or holds a tensor of the wrong shape."""

    def __init__(self, source: str, key: str, expected: object, actual: object) -> None:
        super().__init__(f"{source}: key {key!r}: expected {expected}, got {actual}")
        self.source = source
        self.key = key
        self.expected = expected
        self.actual = actual


class ModelFileNotFoundError(ModelError, FileNotFoundError):
    """A file the model directory or the official release must contain is missing."""


class ContextLengthError(ModelError):
    """The prompt (text, video and motion embeddings) plus the answer would not fit the LLM's context."""
