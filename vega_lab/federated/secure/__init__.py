"""Secure aggregation (SecAgg+): the server learns the sum of the clients' updates, never one.

from vega_lab.federated.secure import secure_sum, SecureAggregator
report = secure_sum(updates, dropout=0.3, seed=0)     # updates: [clients, params]
report.total, report.dropped, report.bytes_per_client
mean, report = SecureAggregator(clip=1.0).mean(deltas, num_examples)

Modules, one idea each: `field` (GF(2^31 - 1)), `quantize` (floats <-> Z_{2^32}), `shamir`,
`prg` (AES-CTR masks and seeded randomness), `keys` (X25519, HKDF, AES-GCM), `graph`
(SecAgg+ neighbourhoods), `messages` (bytes on the wire), `client`, `server`, `aggregator`.
"""

from __future__ import annotations

from vega_lab.federated.secure.aggregator import SecAggReport, SecureAggregator, secure_sum
from vega_lab.federated.secure.client import SecAggClient
from vega_lab.federated.secure.server import SecAggServer

__all__ = ["SecAggClient", "SecAggReport", "SecAggServer", "SecureAggregator", "secure_sum"]
