"""Error tree of the proximity package.

Every error a user can cause by handing us a bad file is an `InputError`: it names the file,
the line (when there is one) and the field, and renders as one line for the CLI.
"""

from __future__ import annotations


class ProximityError(Exception):
    """Root of every error raised by the proximity package."""


class InputError(ProximityError):
    """Bad input: a file, a row or a field that cannot be accepted.

    Args:
        source: File name (or other origin, such as ``"payload"``).
        line: 1-based line number, or ``None`` when the problem is not tied to a line.
        field: The field, column or key at fault (a dotted path for nested keys).
        message: What is wrong, in words a user can act on.
    """

    def __init__(self, source: str, line: int | None, field: str | None, message: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": field '{self.field}'"
        return f"{where}: {self.message}"
