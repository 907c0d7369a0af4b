"""The pure proximity engine: readings and time in, events out.

Nothing in this package reads a clock, opens a file or a socket, except the edge modules
`proximity.cli` and `proximity.files` (enforced by ``tests/test_purity.py``).
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
