"""``python -m gateway --config FILE ...``: the same as ``proximity gateway``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_parser


def main() -> int:
    """Parse arguments and run the gateway command."""
    parser = argparse.ArgumentParser(prog="python -m gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    ns = parser.parse_args(["gateway", *sys.argv[1:]])
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
