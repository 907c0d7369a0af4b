"""Import rules that keep ``proximity/`` a pure core (checked on the source with `ast`).

* Every module of ``proximity/`` except the edge modules (cli, files, plot, evalcmd) imports
  nothing that reads a clock, touches files, sockets or processes, or draws OS randomness, and
  calls no ``open(``.
* No module of ``proximity/`` imports the live packages ``gateway`` or ``api``. (The CLI names
  the live commands' modules as strings in ``LIVE_COMMANDS`` and imports only the one that runs;
  ``tests/test_cli.py`` checks that offline commands load none of them.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "proximity"
EDGE_MODULES = {"cli", "files", "plot", "evalcmd"}

IMPURE_IMPORTS = {
    # from the project's rule
    "os",
    "io",
    "time",
    "datetime",
    "socket",
    "pathlib",
    "random",
    "subprocess",
    "asyncio",
    "bleak",
    "aiomqtt",
    "fastapi",
    "sqlmodel",
    "matplotlib",
    "threading",
    # the same concerns by other names
    "secrets",
    "tempfile",
    "shutil",
    "sqlite3",
    "glob",
    "signal",
    "multiprocessing",
    "concurrent",
    "selectors",
    "urllib",
    "http",
    "httpx",
    "importlib",
}
LIVE_PACKAGES = {"gateway", "api"}
IMPURE_CALLS = {"open", "__import__", "uuid1", "uuid4", "urandom", "perf_counter", "monotonic"}


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Absolute top-level package names imported anywhere in ``tree``, with their lines."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _called(tree: ast.AST) -> list[tuple[int, str]]:
    """Names of called functions (``f(...)`` and ``x.f(...)``), with their lines."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                found.append((node.lineno, func.id))
            elif isinstance(func, ast.Attribute):
                found.append((node.lineno, func.attr))
    return found


def violations(source: str, *, pure: bool) -> list[str]:
    """Rule violations in one module's ``source`` ("line: what")."""
    tree = ast.parse(source)
    out = [f"{line}: imports {name}" for line, name in _imported(tree) if name in LIVE_PACKAGES]
    if pure:
        out += [
            f"{line}: imports {name}" for line, name in _imported(tree) if name in IMPURE_IMPORTS
        ]
        out += [f"{line}: calls {name}(" for line, name in _called(tree) if name in IMPURE_CALLS]
    return out


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_pure_and_edge_modules() -> None:
    names = {p.stem for p in _modules()}
    assert {"engine", "store", "readings", "cli", "files"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_follows_the_import_rules(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    pure = not (len(rel.parts) == 1 and path.stem in EDGE_MODULES)
    found = violations(path.read_text(encoding="utf-8"), pure=pure)
    kind = "pure" if pure else "edge"
    assert not found, f"proximity/{rel} ({kind} module): " + "; ".join(found)


@pytest.mark.parametrize(
    ("source", "pure", "expected"),
    [
        ("import os\n", True, ["1: imports os"]),
        ("import os\n", False, []),
        ("from time import monotonic\n", True, ["1: imports time"]),
        ("import bleak.backends.device\n", True, ["1: imports bleak"]),
        ("def f():\n    import datetime\n", True, ["2: imports datetime"]),
        ("x = open('f')\n", True, ["1: calls open("]),
        ("x = p.open()\n", True, ["1: calls open("]),
        ("import uuid\nu = uuid.uuid4()\n", True, ["2: calls uuid4("]),
        ("from gateway.cli import run\n", False, ["1: imports gateway"]),
        ("import api\n", True, ["1: imports api"]),
        ("from . import store\nfrom .files import x\nimport numpy\n", True, []),
        ("import hashlib, uuid\nu = uuid.UUID(bytes=b'0' * 16)\n", True, []),
    ],
)
def test_the_checker_catches_what_it_should(source: str, pure: bool, expected: list[str]) -> None:
    assert violations(source, pure=pure) == expected
