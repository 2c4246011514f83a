"""The error every runner turns into one line and exit status 2."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A bad command line, option file or run folder: one line, exit status 2."""
