"""One SecAgg+ client: it only ever sees bytes from the server and answers with bytes.

Stages (Bonawitz et al. 2017, with Bell et al. 2020's neighbourhoods):
0. `advertise`: two fresh X25519 public keys (``c`` to encrypt shares, ``s`` for masks).
1. `share_keys`: a random self-mask seed b and the private ``s`` key, each Shamir-shared
   t-of-m among its neighbourhood (itself included), each neighbour's pair of shares encrypted
   to it under the ``c`` agreement (AES-GCM, sender and recipient authenticated).
2. `masked_input`: checks its update (length, finite) *before* masking, quantizes it and sends
   ``y = q(x) + PRG(b) + sum_j sign(i, j) PRG(s_ij)`` in Z_{2^32}; the pairwise masks of two
   neighbours cancel in the sum, the self mask protects it if the server later asks the
   neighbours for ``s`` shares of a client it claims dropped.
3. `unmask`: for each neighbour the server lists as alive, its share of b; for each listed as
   dropped, its share of the ``s`` key; never both for one client.

Honest-but-curious model: no signatures on keys and no consistency round (Bonawitz's active
variant adds both); the server is trusted to route messages but not to see inputs.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure import messages as msg
from vega_lab.federated.secure.keys import (
    ENCRYPTION_INFO,
    MASK_INFO,
    NONCE_BYTES,
    KeyPair,
    agree,
    decrypt,
    encrypt,
    public_key,
)
from vega_lab.federated.secure.prg import Drbg, MaskStream
from vega_lab.federated.secure.quantize import RING_DTYPE, Quantizer
from vega_lab.federated.secure.shamir import SECRET_BYTES, share_secret


def _aad(src: int, dst: int) -> bytes:
    return msg.ID.pack(src) + msg.ID.pack(dst)


def check_update(cid: int, update: np.ndarray, size: int) -> np.ndarray:
    """The update as a flat float64 vector, or a `SecureAggregationError` saying what is
    wrong with it: a wrong length or non-finite values are refused before anything is masked
    (once masked, nobody could see them, and a NaN would silently poison the sum)."""
    x = np.asarray(update, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != size:
        raise SecureAggregationError(
            f"client {cid}'s update has shape {list(x.shape)}, the model has {size} parameters",
            "the client is left out of this round; check that it trains the same model",
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise SecureAggregationError(
            f"client {cid}'s update holds {bad} NaN/Inf values",
            "the client is left out of this round; lower its learning rate or clip gradients",
        )
    return x


class SecAggClient:
    def __init__(self, cid: int, seed: int | None = None) -> None:
        self.cid = cid
        self.rng = Drbg(seed, "client", cid)
        self.c = KeyPair.from_private_bytes(self.rng.read(SECRET_BYTES))
        self.s = KeyPair.from_private_bytes(self.rng.read(SECRET_BYTES))
        self.setup: msg.Setup | None = None
        self.book: dict[int, tuple[bytes, bytes]] = {}
        self.peer_keys: dict[int, tuple[X25519PublicKey, X25519PublicKey]] = {}
        self.held: dict[int, tuple[bytes, bytes]] = {}  # owner -> (b share, s share)
        self.enc_keys: dict[int, bytes] = {}
        self.peers: list[int] = []
        self.clipped = 0

    def _setup(self) -> msg.Setup:
        if self.setup is None:
            raise SecureAggregationError(f"client {self.cid} got a message out of order")
        return self.setup

    def advertise(self, setup: bytes) -> bytes:
        self.setup = msg.Setup.unpack(setup)
        return msg.pack_keys(self.cid, self.c.public, self.s.public)

    def share_keys(self, keybook: bytes) -> bytes:
        cfg = self._setup()
        entries = msg.unpack_keybook(keybook)
        self.book = {cid: (c_pk, s_pk) for cid, c_pk, s_pk in entries}
        keys = [k for _, c_pk, s_pk in entries for k in (c_pk, s_pk)]
        if len(self.book) != len(entries) or len(set(keys)) != len(keys):
            raise SecureAggregationError(f"client {self.cid}: the key book repeats ids or keys")
        if self.book.get(self.cid) != (self.c.public, self.s.public):
            raise SecureAggregationError(f"client {self.cid}: the key book misstates its keys")
        if len(self.book) < cfg.threshold:
            raise SecureAggregationError(
                f"client {self.cid} has {len(self.book)} share holders, fewer than the "
                f"threshold {cfg.threshold}"
            )
        self.peer_keys = {
            j: (public_key(c_pk), public_key(s_pk))
            for j, (c_pk, s_pk) in self.book.items()
            if j != self.cid
        }
        holders = sorted(self.book)
        self.b = self.rng.read(SECRET_BYTES)
        b_shares = share_secret(self.b, cfg.threshold, holders, self.rng.read)
        s_shares = share_secret(self.s.private_bytes(), cfg.threshold, holders, self.rng.read)
        out = []
        for j, b_sh, s_sh in zip(holders, b_shares, s_shares, strict=True):
            if j == self.cid:
                self.held[j] = (b_sh, s_sh)
                continue
            key = agree(self.c.private, self.peer_keys[j][0], ENCRYPTION_INFO, cfg.salt)
            self.enc_keys[j] = key
            plain = msg.pack_plain(self.cid, j, b_sh, s_sh)
            out.append((j, encrypt(key, self.rng.read(NONCE_BYTES), plain, _aad(self.cid, j))))
        return msg.pack_routed(out)

    def masked_input(self, forwarded: bytes, update: np.ndarray) -> bytes:
        cfg = self._setup()
        for src, blob in msg.unpack_routed(forwarded, "the server"):
            if src not in self.enc_keys:
                raise SecureAggregationError(
                    f"client {self.cid} got shares from {src}, which is not its neighbour"
                )
            plain = decrypt(self.enc_keys[src], blob, _aad(src, self.cid))
            s, d, b_sh, s_sh = msg.unpack_plain(plain)
            if (s, d) != (src, self.cid):
                raise SecureAggregationError(f"client {self.cid}: a share was misrouted")
            self.held[src] = (b_sh, s_sh)
            self.peers.append(src)
        if len(self.held) < cfg.threshold:
            raise SecureAggregationError(
                f"client {self.cid} holds shares from {len(self.held)} clients, fewer than the "
                f"threshold {cfg.threshold}: its neighbours dropped"
            )
        x = check_update(self.cid, update, cfg.size)
        q, self.clipped = Quantizer(cfg.clip, cfg.num_clients).encode(x)
        y = np.array(q, dtype=RING_DTYPE)
        stream = MaskStream(cfg.size)
        stream.add(y, self.b, +1)
        for j in self.peers:
            seed = agree(self.s.private, self.peer_keys[j][1], MASK_INFO, cfg.salt)
            stream.add(y, seed, +1 if self.cid > j else -1)
        return msg.pack_masked(self.cid, y)

    def unmask(self, request: bytes) -> bytes:
        cfg = self._setup()
        alive, dropped = msg.unpack_unmask_request(request)
        if set(alive) & set(dropped):
            raise SecureAggregationError(
                f"client {self.cid}: the server asked for both shares of clients "
                f"{sorted(set(alive) & set(dropped))}; refusing (that would reveal inputs)"
            )
        if len(alive) < cfg.threshold:
            raise SecureAggregationError(
                f"client {self.cid}: only {len(alive)} neighbours alive, threshold "
                f"{cfg.threshold}; refusing to reveal shares"
            )
        out = [(i, msg.SELF_MASK, self.held[i][0]) for i in alive if i in self.held]
        out += [(i, msg.PAIR_KEY, self.held[i][1]) for i in dropped if i in self.held]
        return msg.pack_reveal(out)
