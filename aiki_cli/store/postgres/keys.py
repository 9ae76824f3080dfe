"""Advisory lock keys: one 64-bit number per thing locked, distinct per schema.

Advisory locks belong to the database, not to a schema, so a key hashes the schema's
name with what it locks: two schemas in one database never contend.
"""

from __future__ import annotations

import hashlib


def lock_key(schema: str, kind: str, name: str) -> int:
    """The signed 64-bit key that locks `name` of `kind` ("run", "worker", …) in `schema`."""
    digest = hashlib.blake2b(f"{schema}\0{kind}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def halves(key: int) -> tuple[int, int]:
    """The key as `pg_locks` shows it: its high and low 32 bits (classid, objid)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF
