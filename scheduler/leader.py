"""Exactly one active scheduler across processes.

PostgreSQL: `pg_try_advisory_lock` on a dedicated connection held for as long as this process leads; the lock goes
away with the connection, so a crashed leader frees it at once. SQLite (one machine): an exclusive `flock` on a file
next to the database, which the OS releases when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

import sqlalchemy as sa

from bot.db import Database

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    def __init__(self, db: Database, name: str = "scrm.scheduler") -> None:
        self.db = db
        self.name = name
        self._conn: sa.Connection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if free; never waits."""
        if self.held:
            return True
        if self.db.is_postgres:
            conn = self.db.engine.connect()
            try:
                query = sa.text("SELECT pg_try_advisory_lock(:k)")
                got = bool(conn.execute(query, {"k": lock_key(self.name)}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        path = self._lock_path()
        if path is None:
            self._fd = -1  # in-memory SQLite: one process by construction
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def alive(self) -> bool:
        """Whether the lock is still ours (the PostgreSQL connection may have died)."""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            log.warning("scheduler.lock_lost")
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                self._conn.commit()
            except Exception:
                pass
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        if self._fd is not None:
            if self._fd >= 0:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                finally:
                    os.close(self._fd)
            self._fd = None

    def _lock_path(self) -> Path | None:
        url = self.db.engine.url
        database = url.database
        if not database or database == ":memory:":
            return None
        return Path(f"{database}.{self.name}.lock")
