"""The on-disk outbox: a batch stays until the hub acknowledges it end to end.

SQLite (stdlib ``sqlite3``) in WAL mode. Each batch is committed in its own transaction before
it is published, so a gateway killed with SIGKILL loses at most the open batch window, and
on restart publishes everything not yet acknowledged, oldest first.

Size bound: at most ``max_batches`` batches are kept. When a new batch would exceed it, the
OLDEST batches are deleted (new data is worth more than old data after a long outage) and
counted in ``dropped`` (persisted). Batches carry ``floor`` (lowest seq of their boot still
held) so the hub does not wait for dropped ones.

``synchronous=NORMAL`` (the WAL default) survives any process crash; a power cut may lose the
last commits but never corrupts the file. Set ``durable=True`` for ``synchronous=FULL``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .codec import VERSION, ReadingsBatch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    boot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t0 REAL NOT NULL,
    t1 REAL NOT NULL,
    final INTEGER NOT NULL,
    rows TEXT NOT NULL,
    UNIQUE (boot_id, seq)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Pending:
    """A batch waiting for its acknowledgement, ready to publish."""

    id: int
    boot_id: str
    seq: int
    t1: float
    payload: bytes


class Outbox:
    """Durable FIFO of readings batches for one gateway.

    Args:
        path: SQLite file (created with its directory).
        gateway: Gateway id written into every payload.
        max_batches: Size bound; the oldest batches beyond it are dropped and counted.
        durable: ``synchronous=FULL`` instead of NORMAL.
    """

    def __init__(
        self, path: str | Path, gateway: str, max_batches: int = 200_000, durable: bool = False
    ) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be >= 1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.gateway = gateway
        self.max_batches = max_batches
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # --- meta ----------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def dropped(self) -> int:
        """Batches deleted by the size bound, ever (persisted)."""
        return int(self._meta("dropped") or 0)

    @property
    def resume_t(self) -> float | None:
        """End (``t1``, seconds) of the last batch put, ever: where a restarted source resumes."""
        value = self._meta("resume_t")
        return None if value is None else float(value)

    # --- queue ---------------------------------------------------------------------------

    def depth(self) -> int:
        """Batches held (not yet acknowledged)."""
        return int(self._db.execute("SELECT COUNT(*) FROM batch").fetchone()[0])

    def next_seq(self, boot_id: str) -> int:
        """The seq the next batch of ``boot_id`` gets."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (f"next_seq:{boot_id}",)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def put(
        self,
        boot_id: str,
        t0: float,
        t1: float,
        rows: list[tuple[float, str, float, float | None]],
        final: bool = False,
    ) -> int:
        """Commit a new batch of ``boot_id``; returns its seq. Drops the oldest beyond the bound."""
        rows_json = json.dumps(
            [[round(ts, 6), dev, rssi, tx] for ts, dev, rssi, tx in rows],
            separators=(",", ":"),
            allow_nan=False,
        )
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self.next_seq(boot_id)
            self._db.execute(
                "INSERT INTO batch (boot_id, seq, t0, t1, final, rows) VALUES (?, ?, ?, ?, ?, ?)",
                (boot_id, seq, t0, t1, int(final), rows_json),
            )
            self._set_meta(f"next_seq:{boot_id}", str(seq + 1))
            self._set_meta("resume_t", repr(t1))
            excess = self.depth() - self.max_batches
            if excess > 0:
                self._db.execute(
                    "DELETE FROM batch WHERE id IN (SELECT id FROM batch ORDER BY id LIMIT ?)",
                    (excess,),
                )
                self._set_meta("dropped", str(self.dropped + excess))
        return seq

    def floor(self, boot_id: str) -> int:
        """Lowest seq of ``boot_id`` still held (the next seq when none is)."""
        row = self._db.execute(
            "SELECT MIN(seq) FROM batch WHERE boot_id = ?", (boot_id,)
        ).fetchone()
        return self.next_seq(boot_id) if row[0] is None else int(row[0])

    def pending(self, after_id: int = 0, limit: int = 100) -> list[Pending]:
        """Held batches with ``id > after_id``, oldest first, as wire payloads."""
        cur = self._db.execute(
            "SELECT id, boot_id, seq, t0, t1, final, rows FROM batch WHERE id > ? "
            "ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        out: list[Pending] = []
        floors: dict[str, int] = {}
        for rid, boot_id, seq, t0, t1, final, rows_json in cur.fetchall():
            if boot_id not in floors:
                floors[boot_id] = self.floor(boot_id)
            payload = (
                f'{{"v":{VERSION},"gateway":{json.dumps(self.gateway)},'
                f'"boot_id":{json.dumps(boot_id)},"seq":{seq},"floor":{floors[boot_id]},'
                f'"t0":{round(t0, 6)!r},"t1":{round(t1, 6)!r},"readings":{rows_json}'
                + (',"final":true}' if final else "}")
            )
            out.append(Pending(int(rid), str(boot_id), int(seq), float(t1), payload.encode()))
        return out

    def ack(self, boot_id: str, seq: int) -> int:
        """Delete every batch of ``boot_id`` up to ``seq``; returns how many were deleted."""
        cur = self._db.execute("DELETE FROM batch WHERE boot_id = ? AND seq <= ?", (boot_id, seq))
        return int(cur.rowcount)

    def snapshot(self) -> list[ReadingsBatch]:
        """Every held batch, decoded (for tests and tools)."""
        from .codec import decode_batch

        return [decode_batch("outbox", p.payload) for p in self.pending(0, 1 << 30)]
