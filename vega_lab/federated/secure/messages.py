"""The protocol's messages as bytes: fixed little-endian layouts, so the bytes a client sends and
receives are counted exactly, and a malformed message is refused with the sender named.

Ids are u32, keys 32 bytes, a Shamir share 36 bytes, an encrypted share pair 108 bytes
(12 nonce + 80 plaintext + 16 tag), a masked vector 4 bytes per coordinate.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure.keys import KEY_BYTES, NONCE_BYTES, TAG_BYTES
from vega_lab.federated.secure.shamir import SHARE_BYTES

ID = struct.Struct("<I")
PLAIN = struct.Struct(f"<II{SHARE_BYTES}s{SHARE_BYTES}s")  # src, dst, b share, s share
CIPHER_BYTES = NONCE_BYTES + PLAIN.size + TAG_BYTES
SETUP = struct.Struct("<16sIIIId")  # salt, clients, shares, threshold, size, clip
KEYS = struct.Struct(f"<I{KEY_BYTES}s{KEY_BYTES}s")  # id, c public, s public
ROUTED = struct.Struct(f"<I{CIPHER_BYTES}s")  # dst (upload) or src (download), ciphertext
REVEAL = struct.Struct(f"<IB{SHARE_BYTES}s")  # owner, kind (0: b, 1: s), share
SELF_MASK, PAIR_KEY = 0, 1


def _bad(what: str, sender: object) -> SecureAggregationError:
    return SecureAggregationError(
        f"malformed {what} message from {sender}", "that party is left out of the round"
    )


def _records(buf: bytes, rec: struct.Struct, what: str, sender: object) -> list[tuple]:
    if len(buf) < 4:
        raise _bad(what, sender)
    (count,) = ID.unpack_from(buf)
    if len(buf) != 4 + count * rec.size:
        raise _bad(what, sender)
    return [rec.unpack_from(buf, 4 + i * rec.size) for i in range(count)]


def _pack(rec: struct.Struct, rows: Sequence[tuple]) -> bytes:
    return ID.pack(len(rows)) + b"".join(rec.pack(*r) for r in rows)


@dataclass(frozen=True)
class Setup:
    """What the server tells every client first: the round's parameters."""

    salt: bytes
    num_clients: int
    num_shares: int
    threshold: int
    size: int
    clip: float

    def pack(self) -> bytes:
        return SETUP.pack(
            self.salt, self.num_clients, self.num_shares, self.threshold, self.size, self.clip
        )

    @classmethod
    def unpack(cls, buf: bytes) -> Setup:
        if len(buf) != SETUP.size:
            raise _bad("setup", "the server")
        return cls(*SETUP.unpack(buf))


def pack_keys(cid: int, c_pk: bytes, s_pk: bytes) -> bytes:
    return KEYS.pack(cid, c_pk, s_pk)


def unpack_keys(buf: bytes, sender: int) -> tuple[int, bytes, bytes]:
    if len(buf) != KEYS.size:
        raise _bad("advertise-keys", f"client {sender}")
    return KEYS.unpack(buf)


def pack_keybook(entries: Sequence[tuple[int, bytes, bytes]]) -> bytes:
    return _pack(KEYS, entries)


def unpack_keybook(buf: bytes) -> list[tuple[int, bytes, bytes]]:
    return _records(buf, KEYS, "key book", "the server")


def pack_routed(entries: Sequence[tuple[int, bytes]]) -> bytes:
    return _pack(ROUTED, entries)


def unpack_routed(buf: bytes, sender: object) -> list[tuple[int, bytes]]:
    return _records(buf, ROUTED, "encrypted shares", sender)


def pack_plain(src: int, dst: int, b_share: bytes, s_share: bytes) -> bytes:
    return PLAIN.pack(src, dst, b_share, s_share)


def unpack_plain(buf: bytes) -> tuple[int, int, bytes, bytes]:
    if len(buf) != PLAIN.size:
        raise _bad("share plaintext", "a neighbour")
    return PLAIN.unpack(buf)


def pack_masked(cid: int, y: np.ndarray) -> bytes:
    return ID.pack(cid) + np.ascontiguousarray(y, dtype="<u4").tobytes()


def unpack_masked(buf: bytes, sender: int, size: int) -> np.ndarray:
    """The masked vector, or an error when its length is not ``size`` coordinates."""
    if len(buf) != 4 + 4 * size or ID.unpack_from(buf)[0] != sender:
        got = (len(buf) - 4) / 4
        raise SecureAggregationError(
            f"client {sender} sent a masked vector of {got:g} coordinates, expected {size}",
            "that client is left out of the round (treated as dropped)",
        )
    return np.frombuffer(buf, dtype="<u4", offset=4)


def pack_unmask_request(alive: Sequence[int], dropped: Sequence[int]) -> bytes:
    return (
        ID.pack(len(alive))
        + b"".join(ID.pack(i) for i in alive)
        + ID.pack(len(dropped))
        + b"".join(ID.pack(i) for i in dropped)
    )


def unpack_unmask_request(buf: bytes) -> tuple[list[int], list[int]]:
    try:
        (na,) = ID.unpack_from(buf)
        alive = [ID.unpack_from(buf, 4 + 4 * i)[0] for i in range(na)]
        (nd,) = ID.unpack_from(buf, 4 + 4 * na)
        dropped = [ID.unpack_from(buf, 8 + 4 * (na + i))[0] for i in range(nd)]
    except struct.error:
        raise _bad("unmask request", "the server") from None
    if len(buf) != 8 + 4 * (na + nd):
        raise _bad("unmask request", "the server")
    return alive, dropped


def pack_reveal(entries: Sequence[tuple[int, int, bytes]]) -> bytes:
    return _pack(REVEAL, entries)


def unpack_reveal(buf: bytes, sender: int) -> list[tuple[int, int, bytes]]:
    return _records(buf, REVEAL, "unmasking shares", f"client {sender}")
