"""The SecAgg+ server: routes keys and encrypted shares, sums masked vectors as they arrive, then
removes the masks with the shares the survivors reveal.

Which clients are where: U1 advertised keys, U2 also sent their encrypted shares, U3 also sent a
masked vector (their inputs are in the sum). A client in U2 but not U3 dropped after sharing its
keys: its neighbours in U3 added pairwise masks with it, so the server reconstructs its ``s``
key from t shares and recomputes those masks. Every client in U3 has its self mask removed
from the reconstructed seed b. A bad message (wrong length, unknown recipients) leaves its
sender out of the round, recorded in `rejected`; too few survivors is a
`SecureAggregationError` naming the client whose secret cannot be recovered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure import messages as msg
from vega_lab.federated.secure.graph import neighbourhoods
from vega_lab.federated.secure.keys import MASK_INFO, KeyPair, agree, public_key
from vega_lab.federated.secure.prg import Drbg, MaskStream
from vega_lab.federated.secure.quantize import RING_DTYPE, Quantizer
from vega_lab.federated.secure.shamir import check_threshold, reconstruct_secrets

_HINT = (
    "too many clients dropped: lower the dropout, use more share holders per client "
    "(num_shares), or a lower (still secure, > half the holders) threshold"
)


class SecAggServer:
    def __init__(
        self,
        ids: Sequence[int],
        *,
        size: int,
        num_shares: int,
        threshold: int,
        clip: float,
        seed: int | None = None,
    ) -> None:
        if len(ids) < 2 or len(set(ids)) != len(ids) or min(ids) < 1:
            raise SecureAggregationError(
                f"secure aggregation needs at least 2 clients with distinct ids >= 1, got {ids}"
            )
        if size < 1:
            raise SecureAggregationError(f"the model must have parameters, got size {size}")
        if num_shares < 2:
            raise SecureAggregationError(f"num_shares must be at least 2, got {num_shares}")
        self.ids = sorted(ids)
        self.num_shares = min(num_shares, len(ids))
        check_threshold(threshold, self.num_shares)
        self.threshold = threshold
        self.quantizer = Quantizer(clip, len(ids))
        self.rng = Drbg(seed, "server")
        self.setup = msg.Setup(
            self.rng.read(16), len(ids), self.num_shares, threshold, size, float(clip)
        )
        self.keys: dict[int, tuple[bytes, bytes]] = {}
        self.graph: dict[int, tuple[int, ...]] = {}
        self.u2: set[int] = set()
        self.u3: set[int] = set()
        self.rejected: dict[int, str] = {}
        self.acc = np.zeros(size, dtype=RING_DTYPE)
        self.reveals: dict[tuple[int, int], dict[int, bytes]] = {}
        self.requests: dict[int, tuple[set[int], set[int]]] = {}

    @property
    def size(self) -> int:
        return self.setup.size

    def setup_message(self) -> bytes:
        return self.setup.pack()

    def _reject(self, cid: int, exc: Exception) -> None:
        self.rejected[cid] = str(exc)

    def _need(self, owners: Sequence[int], alive: set[int], stage: str) -> None:
        """Each owner's secret must keep at least t holders among ``alive``."""
        for i in owners:
            have = len(set(self.graph[i]) & alive)
            if have < self.threshold:
                raise SecureAggregationError(
                    f"{stage}: client {i}'s secrets have {have} surviving share holders, "
                    f"threshold {self.threshold}; the sum cannot be decoded",
                    _HINT,
                )

    def receive_keys(self, replies: Mapping[int, bytes]) -> dict[int, bytes]:
        """Stage 0 -> 1: the key book each client gets (its neighbourhood's public keys)."""
        seen: set[bytes] = set()
        for cid, buf in sorted(replies.items()):
            try:
                sender, c_pk, s_pk = msg.unpack_keys(buf, cid)
                if sender != cid or cid not in self.ids or {c_pk, s_pk} & seen or c_pk == s_pk:
                    raise SecureAggregationError(f"client {cid} advertised unusable keys")
            except SecureAggregationError as exc:
                self._reject(cid, exc)
                continue
            seen |= {c_pk, s_pk}
            self.keys[cid] = (c_pk, s_pk)
        u1 = sorted(self.keys)
        if len(u1) < self.threshold:
            raise SecureAggregationError(
                f"advertise keys: {len(u1)} clients answered, threshold {self.threshold}", _HINT
            )
        self.graph = neighbourhoods(u1, self.num_shares, self.rng)
        return {i: msg.pack_keybook([(j, *self.keys[j]) for j in self.graph[i]]) for i in u1}

    def receive_shares(self, replies: Mapping[int, bytes]) -> dict[int, bytes]:
        """Stage 1 -> 2: each sender must address exactly its neighbours; route to them."""
        inbox: dict[int, list[tuple[int, bytes]]] = {}
        for cid, buf in sorted(replies.items()):
            try:
                if cid not in self.graph:
                    raise SecureAggregationError(f"client {cid} sent shares out of turn")
                entries = msg.unpack_routed(buf, f"client {cid}")
                dsts = [d for d, _ in entries]
                if sorted(dsts) != [j for j in self.graph[cid] if j != cid]:
                    raise SecureAggregationError(
                        f"client {cid} addressed shares to {sorted(dsts)}, not its neighbours"
                    )
            except SecureAggregationError as exc:
                self._reject(cid, exc)
                continue
            self.u2.add(cid)
            for dst, blob in entries:
                inbox.setdefault(dst, []).append((cid, blob))
        self._need(sorted(self.u2), self.u2, "share keys")
        return {
            j: msg.pack_routed([(s, b) for s, b in inbox.get(j, []) if s in self.u2])
            for j in sorted(self.u2)
        }

    def receive_masked(self, cid: int, buf: bytes) -> None:
        """Stage 2: add one masked vector to the running sum (nothing else is kept)."""
        try:
            if cid not in self.u2 or cid in self.u3:
                raise SecureAggregationError(f"client {cid} sent a masked vector out of turn")
            y = msg.unpack_masked(buf, cid, self.size)
        except SecureAggregationError as exc:
            self._reject(cid, exc)
            return
        np.add(self.acc, y, out=self.acc)
        self.u3.add(cid)

    def unmask_requests(self) -> dict[int, bytes]:
        """Stage 2 -> 3: tell each survivor which neighbours are alive and which dropped."""
        dropped = self.u2 - self.u3
        self._need(sorted(self.u2), self.u3, "masked input")
        out = {}
        for j in sorted(self.u3):
            hood = set(self.graph[j])
            alive, gone = hood & self.u3, hood & dropped
            self.requests[j] = (alive, gone)
            out[j] = msg.pack_unmask_request(sorted(alive), sorted(gone))
        return out

    def receive_reveals(self, replies: Mapping[int, bytes]) -> None:
        """Stage 3: keep the shares each client was asked for, and nothing else."""
        for cid, buf in sorted(replies.items()):
            try:
                if cid not in self.requests:
                    raise SecureAggregationError(f"client {cid} revealed shares unasked")
                alive, gone = self.requests[cid]
                for owner, kind, share in msg.unpack_reveal(buf, cid):
                    if owner in (alive if kind == msg.SELF_MASK else gone):
                        self.reveals.setdefault((owner, kind), {})[cid] = share
            except SecureAggregationError as exc:
                self._reject(cid, exc)

    def unmasked_sum(self) -> np.ndarray:
        """The ring sum of the survivors' quantized inputs, every mask removed."""
        survivors, dropped = sorted(self.u3), sorted(self.u2 - self.u3)
        seeds = reconstruct_secrets(
            [self.reveals.get((i, msg.SELF_MASK), {}) for i in survivors],
            self.threshold,
            [f"the self-mask seed of client {i}" for i in survivors],
        )
        keys = reconstruct_secrets(
            [self.reveals.get((i, msg.PAIR_KEY), {}) for i in dropped],
            self.threshold,
            [f"the mask key of dropped client {i}" for i in dropped],
        )
        total = self.acc.copy()
        stream = MaskStream(self.size)
        pks: dict[int, X25519PublicKey] = {}
        for seed in seeds:
            stream.add(total, seed, -1)
        for i, raw in zip(dropped, keys, strict=True):
            kp = KeyPair.from_private_bytes(raw)
            if kp.public != self.keys[i][1]:
                raise SecureAggregationError(
                    f"the mask key reconstructed for dropped client {i} does not match its "
                    "public key: corrupt shares",
                    "rerun the round; if it persists, a client is sending bad shares",
                )
            for j in self.graph[i]:
                if j in self.u3:  # j added sign(j, i) * PRG(s_ji): take it out
                    if j not in pks:
                        pks[j] = public_key(self.keys[j][1])
                    seed = agree(kp.private, pks[j], MASK_INFO, self.setup.salt)
                    stream.add(total, seed, -1 if j > i else +1)
        return total

    def decode(self) -> np.ndarray:
        """The float sum of the survivors' updates (within `Quantizer.error_bound`)."""
        return self.quantizer.decode_sum(self.unmasked_sum(), len(self.u3))
