"""`warp start --reload`: the development session, what is watched and what each change means, the loop that
restarts the server, and the parked process that makes a restart warm."""
