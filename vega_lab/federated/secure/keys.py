"""Key agreement and share encryption: X25519 and AES-GCM from `cryptography`, HKDF-SHA256.

Each client holds two X25519 key pairs (as in Bonawitz et al. 2017): ``c`` encrypts the Shamir
shares it sends to its neighbours (X25519 -> HKDF-SHA256 -> AES-256-GCM), ``s`` derives the
pairwise mask seeds (X25519 -> HKDF-SHA256 -> a 32-byte PRG seed). They are separate because
the server may reconstruct a dropped client's ``s`` key to remove its masks, and that must not
open the shares sent under ``c``. X25519 is symmetric (``DH(a, B) = DH(b, A)``), so both ends
of a pair derive the same seed without talking.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vega_lab.errors import SecureAggregationError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MASK_INFO = b"vega-secagg pairwise mask"
ENCRYPTION_INFO = b"vega-secagg share encryption"


@dataclass(frozen=True)
class KeyPair:
    private: X25519PrivateKey
    public: bytes  # 32 raw bytes

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        try:
            sk = X25519PrivateKey.from_private_bytes(raw)
        except ValueError as exc:
            raise SecureAggregationError(f"not an X25519 private key: {exc}") from None
        return cls(sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def private_bytes(self) -> bytes:
        return self.private.private_bytes_raw()


def public_key(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SecureAggregationError(f"not an X25519 public key: {exc}") from None


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) with a 32-byte output: one extract, one expand block. Written
    with the standard library's one-shot HMAC: `cryptography`'s HKDF object costs ~30 us a
    call, which at 100 clients x 99 neighbours x 2 keys was a tenth of a round."""
    prk = hmac.digest(salt or bytes(32), secret, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


def agree(private: X25519PrivateKey, peer: X25519PublicKey, info: bytes, salt: bytes) -> bytes:
    """A 32-byte key both ends derive: HKDF-SHA256 over X25519, bound to a purpose
    (``info``) and a session (``salt``: the round), so one exchange never yields two uses."""
    try:
        shared = private.exchange(peer)
    except ValueError as exc:  # a low-order point gives an all-zero secret
        raise SecureAggregationError(f"key agreement failed: {exc}") from None
    return hkdf_sha256(shared, salt, info)


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || AES-256-GCM(plaintext)``; ``aad`` (sender and recipient) is authenticated."""
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise SecureAggregationError("an encrypted share is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise SecureAggregationError(
            "an encrypted share fails authentication: altered in transit or sent under another key",
            "the sender's shares are discarded; the round continues if enough remain",
        ) from None
