"""Running a plan on this machine: a start's facts and preparation, what it claims (port, directories, the
finished build), warp as the graceful parent of a server, the action hooks, and several process types together."""
