"""warp's command line: a start replayed when nothing it read has changed (warp.quickstart), `warp activate`,
`warp list` and `warp env` said again likewise (warp.recall), else click's commands."""

import os
import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # as click's version_option says it, without importing click
        from warp import __version__

        print(f"warp, version {__version__}")
        sys.exit(0)
    if sys.argv[1:2] in (["activate"], ["list"], ["env"]):
        from warp import recall

        recall.replay(sys.argv[1:], os.environ)  # returns only when it cannot
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
