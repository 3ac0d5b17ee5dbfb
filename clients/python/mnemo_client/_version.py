"""The package version (one place, read by the transport's User-Agent and by packaging)."""

__version__ = "0.1.0"
