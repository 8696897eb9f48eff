"""Who may see patient data: a users file of argon2 hashes and/or a bearer token.

- Users file (``--auth FILE``): one ``name:hash`` per line (``#`` comments), the hash
  made by argon2-cffi (``vitals serve --hash-password NAME`` prints such a line). Browsers
  log in with HTTP Basic; the user's name is recorded on acknowledgements.
- Token (``VITALS_API_TOKEN``, at least 16 characters): ``Authorization: Bearer TOKEN``
  (recorded as user ``api-token``), or HTTP Basic with any user name and the token as
  password (recorded as that name: the token is shared, so the name is the caller's word).
- Neither: only a loopback bind is allowed, and acknowledgements record the name the
  caller gives (``local`` when none).

Secrets never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import threading
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vitals.errors import ConfigError

TOKEN_USER = "api-token"
LOCAL_USER = "local"
MIN_TOKEN_LENGTH = 16
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_users(path: str) -> dict[str, str]:
    """``name -> argon2 hash`` from a users file; ``ConfigError`` naming FILE:LINE."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read users file {path}: {e.strerror}") from None
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        name, hashed = name.strip(), hashed.strip()
        if not sep or not name or not hashed.startswith("$argon2"):
            raise ConfigError(
                f"{path}:{n}: expected NAME:ARGON2-HASH; make a line with "
                "`vitals serve --hash-password NAME >> " + path + "`"
            )
        if name in users:
            raise ConfigError(f"{path}:{n}: user {name!r} is listed twice")
        users[name] = hashed
    if not users:
        raise ConfigError(
            f"users file {path} lists no users; add one with "
            f"`vitals serve --hash-password NAME >> {path}`"
        )
    return users


@dataclass
class Authenticator:
    """Checks an ``Authorization`` header; ``enabled`` is False when no auth is configured."""

    users: dict[str, str] = field(default_factory=dict, repr=False)
    token: str | None = field(default=None, repr=False)
    _good: set[bytes] = field(default_factory=set, repr=False)  # digests of verified pairs
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"VITALS_API_TOKEN is too short (at least {MIN_TOKEN_LENGTH} characters); "
                'make one with `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
            )

    @property
    def enabled(self) -> bool:
        return bool(self.users) or self.token is not None

    @property
    def mode(self) -> str:
        modes = [m for m, on in (("users", self.users), ("token", self.token)) if on]
        return "+".join(modes) or "off"

    def user(self, header: str | None) -> str | None:
        """The authenticated user's name, or None if the header does not authenticate."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer":
            return TOKEN_USER if self._token_ok(value) else None
        if scheme != "basic":
            return None
        try:
            name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep or not name:
            return None
        if self._password_ok(name, password) or self._token_ok(password):
            return name
        return None

    def _token_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _password_ok(self, name: str, password: str) -> bool:
        hashed = self.users.get(name)
        if hashed is None:
            return False
        # argon2 costs ~50 ms by design; remember pairs already verified (as a digest)
        digest = hashlib.sha256(f"{name}\0{password}\0{hashed}".encode()).digest()
        with self._lock:
            if digest in self._good:
                return True
        try:
            _hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        with self._lock:
            if len(self._good) > 10_000:
                self._good.clear()
            self._good.add(digest)
        return True
