"""Exports, the image and S2I: pure renderers of the start plan, and effects.py, which writes and builds."""
