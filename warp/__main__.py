"""warp's command line: a start replayed when nothing it read has changed (warp.quickstart), else click's commands."""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["start"]:
        from warp import quickstart

        try:
            quickstart.replay(sys.argv[1:], dict(os.environ))  # returns only when it cannot
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            sys.exit(130)
    from warp.cli import main as run

    run()


if __name__ == "__main__":
    main()
