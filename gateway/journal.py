"""The hub's durable state (SQLite, WAL): what was processed, and the events to publish.

``entry`` is an append-only log of what the hub fed its engine (store configs, batches with
their resolved readings, watermarks, end of stream). Replaying it through the engine at
start-up rebuilds the engine exactly (it is deterministic), so a restarted hub neither loses
nor repeats anything. ``outbound`` holds events by ``event_id`` (the primary key dedupes
events recomputed by a replay) with a published flag: events are published in order, and a
batch is acknowledged to its gateway only once the events it produced are published.

Bound: `Journal.compact` replaces the whole log by one ``snapshot`` (the hub's bookkeeping as
JSON plus the engine's state) and deletes the events already published (a replay from the
snapshot never recomputes them). The hub compacts every ``compact_every`` entries, so the file
holds at most one snapshot (about 4 KB per tracked device), ``compact_every`` entries, the
events not yet published plus those published since, and ``DEAD_LETTERS_KEPT`` dead letters.
SQLite reuses the freed pages, so the file stops growing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proximity.readings import Event

from .codec import Row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, engine BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
"""
DEAD_LETTERS_KEPT = 1000


@dataclass(frozen=True)
class BatchEntry:
    """A processed batch, readings already resolved to device ids."""

    gateway: str
    boot_id: str
    seq: int
    t1: float
    final: bool
    rows: list[Row]


Entry = tuple[str, Any]
"""(kind, body): ``("config", store dict)``, ``("batch", BatchEntry)``, ``("advance", float)``,
``("flush", None)``."""


class Journal:
    """The hub's SQLite state file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.entry_count = int(self._db.execute("SELECT COUNT(*) FROM entry").fetchone()[0])
        """Entries since the last snapshot."""
        self.compactions = 0

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def begin(self) -> None:
        """Start a transaction (entries and events of one step commit together)."""
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the open transaction."""
        self._db.execute("COMMIT")

    def add(self, kind: str, body: Any) -> None:
        """Append an entry."""
        if isinstance(body, BatchEntry):
            body = {
                "gateway": body.gateway,
                "boot_id": body.boot_id,
                "seq": body.seq,
                "t1": body.t1,
                "final": body.final,
                "rows": body.rows,
            }
        self._db.execute(
            "INSERT INTO entry (kind, body) VALUES (?, ?)",
            (kind, json.dumps(body, allow_nan=False)),
        )
        self.entry_count += 1

    def entries(self) -> Iterator[Entry]:
        """Every entry, in order."""
        for kind, body in self._db.execute("SELECT kind, body FROM entry ORDER BY id"):
            data = json.loads(body)
            if kind == "batch":
                rows = [(float(r[0]), str(r[1]), float(r[2]), r[3]) for r in data["rows"]]
                data = BatchEntry(
                    data["gateway"], data["boot_id"], data["seq"], data["t1"], data["final"], rows
                )
            yield str(kind), data

    def is_empty(self) -> bool:
        """Whether nothing was ever written (no entry, no snapshot)."""
        entry = self._db.execute("SELECT 1 FROM entry LIMIT 1").fetchone()
        return entry is None and self.snapshot() is None

    def snapshot(self) -> tuple[dict[str, Any], bytes] | None:
        """The latest snapshot: (hub bookkeeping, engine state), or None."""
        row = self._db.execute("SELECT state, engine FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else (json.loads(row[0]), bytes(row[1]))

    def compact(self, state: dict[str, Any], engine: bytes) -> None:
        """Replace the log by a snapshot of everything it led to, and forget published events.

        Must be called outside `begin`/`commit` (it is its own transaction), at a point where
        ``state`` and ``engine`` reflect every entry written so far.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshot (id, state, engine) VALUES (1, ?, ?)",
                (json.dumps(state, allow_nan=False), engine),
            )
            self._db.execute("DELETE FROM entry")
            self._db.execute("DELETE FROM outbound WHERE published = 1")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.entry_count = 0
        self.compactions += 1

    def sizes(self) -> dict[str, int]:
        """Row counts (entries, events, dead letters) and the snapshot's size in bytes."""
        one = self._db.execute
        snap = one("SELECT LENGTH(state) + LENGTH(engine) FROM snapshot").fetchone()
        return {
            "entries": int(one("SELECT COUNT(*) FROM entry").fetchone()[0]),
            "events": int(one("SELECT COUNT(*) FROM outbound").fetchone()[0]),
            "dead_letters": int(one("SELECT COUNT(*) FROM dead_letter").fetchone()[0]),
            "snapshot_bytes": 0 if snap is None else int(snap[0]),
        }

    def add_events(self, events: list[Event]) -> int:
        """Queue events for publishing; already known ones (by event_id) are ignored."""
        added = 0
        for event in events:
            payload = json.dumps(event.to_json(), separators=(",", ":"), allow_nan=False)
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbound (event_id, payload) VALUES (?, ?)",
                (event.event_id, payload.encode()),
            )
            added += cur.rowcount
        return added

    def unpublished(self) -> list[tuple[int, bytes]]:
        """Events not yet published, oldest first: (row id, payload)."""
        rows = self._db.execute(
            "SELECT id, payload FROM outbound WHERE published = 0 ORDER BY id"
        ).fetchall()
        return [(int(i), bytes(p)) for i, p in rows]

    def mark_published(self, row_id: int) -> None:
        """An event was published (PUBACK received)."""
        self._db.execute("UPDATE outbound SET published = 1 WHERE id = ?", (row_id,))

    def events(self) -> list[dict[str, Any]]:
        """Every event the hub produced, in order (for tools and tests)."""
        rows = self._db.execute("SELECT payload FROM outbound ORDER BY id").fetchall()
        return [json.loads(p) for (p,) in rows]

    def dead_letter(self, topic: str, reason: str, payload: bytes) -> None:
        """Set a rejected message aside (the newest DEAD_LETTERS_KEPT are kept)."""
        self._db.execute(
            "INSERT INTO dead_letter (topic, reason, payload) VALUES (?, ?, ?)",
            (topic, reason[:500], payload[:65536]),
        )
        self._db.execute(
            "DELETE FROM dead_letter WHERE id <= (SELECT MAX(id) FROM dead_letter) - ?",
            (DEAD_LETTERS_KEPT,),
        )

    def dead_letters(self) -> list[tuple[str, str]]:
        """(topic, reason) of the dead letters kept."""
        rows = self._db.execute("SELECT topic, reason FROM dead_letter ORDER BY id").fetchall()
        return [(str(t), str(r)) for t, r in rows]

    def reset(self) -> None:
        """Forget the log, the snapshot and published events (the next start is afresh)."""
        self._db.execute("DELETE FROM entry")
        self._db.execute("DELETE FROM snapshot")
        self._db.execute("DELETE FROM outbound WHERE published = 1")
        self.entry_count = 0
