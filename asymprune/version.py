"""The asymprune version, recorded in every file asymprune writes and in every sweep stage's key."""

__version__ = "0.1.0"
