"""warp's command line: `warp --version` without importing click, else click's commands."""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # as click's version_option says it, without importing click
        from warp import __version__

        print(f"warp, version {__version__}")
        sys.exit(0)
    from warp.cli import main as run

    run()


if __name__ == "__main__":
    main()
