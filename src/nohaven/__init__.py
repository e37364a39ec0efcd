"""nohaven: software for the international 24/7 high-tech crime network."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
