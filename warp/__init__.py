"""warp: build and run Python web applications exactly as they run in production."""

import sys

__version__ = "0.1.0"

# Every command reads warp's own modules: keep their bytecode even where PYTHONDONTWRITEBYTECODE is set (as in many
# images), as warp does for the envs it builds. Only this process: the app's interpreters get the environment as it is.
sys.dont_write_bytecode = False
