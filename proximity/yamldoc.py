"""YAML documents that remember where each value came from.

Store files and scenarios are YAML written by people. When a value is wrong we want to say
``store.yaml:14: field 'zones[2].kind': ...``, so values are loaded together with the line they
stand on. Parsing text is pure: the caller reads the file and passes its text and name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import InputError

Path = tuple[str | int, ...]


def path_str(path: Path) -> str:
    """Render ``("zones", 2, "kind")`` as ``zones[2].kind``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass
class Doc:
    """A parsed YAML document with the source line of every value.

    Attributes:
        source: File name used in error messages.
        data: The plain Python value of the document.
        lines: 1-based line of each value, keyed by its path.
    """

    source: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """Line of the value at ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: Path, message: str) -> InputError:
        """An `InputError` pointing at ``path``."""
        return InputError(self.source, self.line(path), path_str(path) or None, message)

    # --- typed accessors -------------------------------------------------------------------

    def get(self, path: Path) -> Any:
        """The value at ``path`` (must exist)."""
        value = self.data
        for part in path:
            value = value[part]
        return value

    def mapping(
        self, path: Path, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        """The mapping at ``path``, rejecting unknown keys and requiring ``required``."""
        value = self.get(path)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a mapping, got {_kind(value)}")
        allowed_set = set(allowed)
        for key in value:
            if not isinstance(key, str) or key not in allowed_set:
                raise self.error(
                    (*path, str(key)),
                    f"unknown key '{key}' (allowed: {', '.join(sorted(allowed_set))})",
                )
        for key in required:
            if key not in value:
                raise self.error(path, f"missing required key '{key}'")
        return dict(value)

    def sequence(self, path: Path) -> list[Any]:
        """The list at ``path`` (``None`` counts as empty)."""
        value = self.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(path, f"expected a list, got {_kind(value)}")
        return value

    def string(self, path: Path) -> str:
        """The non-empty string at ``path`` (numbers are accepted and turned into text)."""
        value = self.get(path)
        if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
            raise self.error(path, f"expected a string, got {_kind(value)}")
        text = str(value).strip()
        if not text:
            raise self.error(path, "must not be empty")
        return text

    def number(
        self, path: Path, *, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        """The finite number at ``path``, optionally bounded (inclusive)."""
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(path, f"expected a number, got {_kind(value)}")
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise self.error(path, "must be a finite number")
        if minimum is not None and number < minimum:
            raise self.error(path, f"must be >= {minimum:g}, got {number:g}")
        if maximum is not None and number > maximum:
            raise self.error(path, f"must be <= {maximum:g}, got {number:g}")
        return number

    def integer(self, path: Path, *, minimum: int | None = None) -> int:
        """The integer at ``path``."""
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(path, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, path: Path) -> bool:
        """The boolean at ``path``."""
        value = self.get(path)
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_kind(value)}")
        return value

    def point(self, path: Path) -> tuple[float, float]:
        """An ``[x, y]`` pair in metres."""
        items = self.sequence(path)
        if len(items) != 2:
            raise self.error(path, f"expected [x, y], got {len(items)} values")
        return (self.number((*path, 0)), self.number((*path, 1)))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def parse(text: str, source: str) -> Doc:
    """Parse YAML ``text`` (from ``source``) into a `Doc` with line numbers.

    Raises:
        InputError: The text is not valid YAML, or uses a duplicate key.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(source, line, None, f"invalid YAML: {problem}") from exc
    doc = Doc(source=source, data=None)
    if node is None:
        return doc
    doc.data = _convert(node, (), doc)
    return doc


def _convert(node: yaml.Node, path: Path, doc: Doc) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, (*path, "?"), doc)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                raise InputError(
                    doc.source,
                    key_node.start_mark.line + 1,
                    path_str((*path, key)),
                    "duplicate key",
                )
            out[key] = _convert(value_node, (*path, key), doc)
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _scalar(node, path, doc)


def _scalar(node: yaml.Node, path: Path, doc: Doc) -> Any:
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise InputError(doc.source, node.start_mark.line + 1, path_str(path), str(exc)) from exc
