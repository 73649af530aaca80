"""Millstream: production and inventory as one connected, real-time record."""

__version__ = "0.1.0"
