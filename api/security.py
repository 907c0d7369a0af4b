"""Secrets: access tokens with roles, encryption at rest, pseudonymous subject ids.

Access tokens are ``v1.<payload>.<signature>``: the payload is URL-safe base64 of a JSON
object ``{"role", "tenant", "store", "customer", "associate", "exp"}`` and the signature is
HMAC-SHA256 of the payload with ``Settings.auth_secret``. Roles:

- ``ops``: retail ops of one store (``store`` set) or of the whole tenant (``store`` null).
- ``associate``: an associate (``associate`` id) of one store.
- ``service``: a machine (store engine, POS) of one store, or of every store (``store`` null).
- ``app``: the retailer's app acting for one customer (``customer`` id), its own data only.

Device keys and store secrets are encrypted with Fernet (AES-128-CBC + HMAC) under
``Settings.master_key``. Subject ids are ``s-`` + the first 16 bytes (hex) of
HMAC-SHA256(subject_secret, "customer:<id>"): stable, not reversible without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken

Role = Literal["ops", "associate", "service", "app"]
ROLES: tuple[Role, ...] = ("ops", "associate", "service", "app")


class AuthError(Exception):
    """A bearer token that cannot be accepted (malformed, forged or expired)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling.

    Attributes:
        role: One of `ROLES`.
        tenant: Tenant the principal belongs to.
        store: Store id the principal is limited to, or None (tenant-wide ops or service).
        customer: Customer id (role ``app``).
        associate: Associate id (role ``associate``).
        exp: Expiry, seconds since the epoch.
    """

    role: Role
    tenant: str = "default"
    store: str | None = None
    customer: int | None = None
    associate: int | None = None
    exp: float = 0.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue_token(secret: str, principal: Principal) -> str:
    """A signed bearer token for ``principal`` (expires at ``principal.exp``)."""
    if principal.role not in ROLES:
        raise ValueError(f"unknown role {principal.role!r}")
    if principal.role == "app" and principal.customer is None:
        raise ValueError("an app token needs a customer id")
    if principal.role == "associate" and (principal.store is None or principal.associate is None):
        raise ValueError("an associate token needs a store and an associate id")
    payload = _b64(json.dumps(asdict(principal), sort_keys=True).encode())
    return f"v1.{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str, now: float) -> Principal:
    """Verify ``token`` and return its principal.

    Args:
        secret: The signing secret.
        token: The bearer token.
        now: Current time, seconds since the epoch.

    Raises:
        AuthError: Malformed, bad signature, unknown role or expired.
    """
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise AuthError("malformed token")
    payload, signature = parts[1], parts[2]
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise AuthError("bad token signature")
    try:
        data = json.loads(_unb64(payload))
        principal = Principal(**data)
    except (ValueError, TypeError) as exc:
        raise AuthError("malformed token") from exc
    if principal.role not in ROLES:
        raise AuthError("unknown role")
    if principal.exp < now:
        raise AuthError("token expired")
    return principal


class Vault:
    """Encryption at rest with the master key.

    Args:
        master_key: Fernet key, URL-safe base64 of 32 bytes.

    Raises:
        ValueError: The master key is not a valid Fernet key.
    """

    def __init__(self, master_key: str) -> None:
        try:
            self._fernet = Fernet(master_key.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError("master_key must be URL-safe base64 of 32 bytes") from exc

    def seal(self, plain: bytes) -> bytes:
        """Encrypt ``plain``."""
        return self._fernet.encrypt(plain)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt what `seal` produced.

        Raises:
            ValueError: Wrong master key or tampered data.
        """
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong master key or tampered data") from exc


def subject_id(subject_secret: str, customer_id: int) -> str:
    """The pseudonymous subject id the store engine knows a customer by."""
    digest = hmac.new(
        subject_secret.encode(), f"customer:{customer_id}".encode(), hashlib.sha256
    ).digest()
    return "s-" + digest[:16].hex()


def new_key() -> bytes:
    """A fresh 32-byte secret (device key or store secret) from the OS."""
    return secrets.token_bytes(32)


def new_coupon_code() -> str:
    """A coupon code: 12 characters from an unambiguous alphabet (about 60 bits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))
