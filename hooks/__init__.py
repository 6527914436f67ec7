"""Scripts run by the application's own interpreter, never imported by warp.

Each script uses only the standard library and the framework it serves, prints
one JSON object on stdout, and exits non-zero with a readable message on failure.
"""
