"""warp: build and run Python web applications exactly as they run in production."""

__version__ = "0.1.0"
