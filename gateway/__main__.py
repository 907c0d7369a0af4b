"""``python -m gateway --config FILE ...``: the same as ``proximity gateway``."""

from __future__ import annotations

import sys


def main() -> int:
    """Parse arguments and run the gateway command (Ctrl-C at any point: exit code 130)."""
    try:
        import argparse

        from .cli import add_parser

        parser = argparse.ArgumentParser(prog="python -m gateway")
        sub = parser.add_subparsers(dest="command", required=True)
        add_parser(sub)
        ns = parser.parse_args(["gateway", *sys.argv[1:]])
        return int(ns.func(ns))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
