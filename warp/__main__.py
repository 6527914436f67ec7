"""warp's command line: a start replayed when nothing it read has changed (warp.quickstart), else click's commands."""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["start"]:
        from warp import quickstart

        quickstart.replay(sys.argv[1:], dict(os.environ))  # returns only when it cannot
    from warp.cli import main as run

    run()


if __name__ == "__main__":
    main()
