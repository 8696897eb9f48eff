"""Who may see patient data, and what each may do: a users file of argon2 hashes and roles,
and/or a bearer token.

- Users file (``--auth FILE``): one ``NAME:HASH[:ROLE]`` per line (``#`` comments), the
  hash made by argon2-cffi (``vitals serve --hash-password NAME --role ROLE`` prints such a
  line). Browsers log in with HTTP Basic; the user's name is recorded on acknowledgements.
- Token (``VITALS_API_TOKEN``, at least 16 characters): ``Authorization: Bearer TOKEN``
  (recorded as user ``api-token``), or HTTP Basic with the token as password and a name
  that is not in the users file (recorded as ``api-token (as NAME)``: the token is shared,
  so the name is only the caller's word and never passes for a user's own login). A users-file
  name with the token as password is refused (401), also in another case or with spaces
  around it (``Alice``, ``alice ``): whoever holds the token cannot act under a user's name.
  A display name longer than :data:`MAX_DISPLAY_NAME` characters, or holding a control or
  format character (Unicode Cc/Cf: a line break that would forge an audit line, a bidi
  override that would reverse one) is refused too (:func:`display_name_problem`). Its role is ``token_role`` (``vitals serve --token-role``, viewer unless
  set); a refusal names the token and that option, not a users-file line.
- Neither: only a loopback bind is allowed, everyone is ``clinician`` (a bench or demo
  station, as before roles existed), and acknowledgements record the name the caller
  gives (``local`` when none).

Roles (:data:`ROLES`): ``viewer`` sees the ward and patients (every GET); ``clinician`` may
also act: acknowledge alarms, pause or resume alarm audio, end monitoring, place a patient.
A users-file line without a role is a ``viewer``: least privilege, so a file written before
roles existed gives nobody new rights (add ``:clinician`` to those who act on alarms). What a
role may not do is refused with 403 by :func:`refusal` (no route is reached).

Secrets never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vitals.errors import ConfigError

VIEWER = "viewer"
CLINICIAN = "clinician"
ROLES = {
    VIEWER: "sees the ward and patients (read only)",
    CLINICIAN: "also acknowledges alarms, pauses alarm audio, ends monitoring, places patients",
}
DEFAULT_ROLE = VIEWER  # of a users-file line without one, and of the token
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# what a request that changes something does, for the 403's message (longest match first)
_ACTIONS = (
    (re.compile(r"^/api/patients/[^/]+/alerts/[^/]+/ack$"), "acknowledging an alarm"),
    (re.compile(r"^/api/audio/pause$"), "pausing alarm audio"),
    (re.compile(r"^/api/audio/resume$"), "resuming alarm audio"),
    (re.compile(r"^/api/patients/[^/]+/end-monitoring$"), "ending monitoring"),
    (re.compile(r"^/api/patients/[^/]+/register$"), "placing a patient"),
)
TOKEN_USER = "api-token"  # who a request authenticated by VITALS_API_TOKEN is
LOCAL_USER = "local"
MIN_TOKEN_LENGTH = 16
MAX_DISPLAY_NAME = 64  # characters of a name given with the token (HTTP Basic)
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


def may(role: str, method: str) -> bool:
    """Whether ``role`` may send a request with ``method``: reads for every role, anything
    that changes data (POST, PUT, DELETE...) only for ``clinician``."""
    return method.upper() in READ_METHODS or role == CLINICIAN


def token_identity(name: str = "") -> str:
    """The recorded identity of a request authenticated by the token: ``api-token``, or
    ``api-token (as NAME)`` when HTTP Basic gave a display name (see the module)."""
    return f"{TOKEN_USER} (as {name})" if name else TOKEN_USER


def display_name_problem(name: str) -> str | None:
    """Why ``name``, given in HTTP Basic with the token as password, cannot be recorded as
    ``api-token (as NAME)`` (None: it can): longer than :data:`MAX_DISPLAY_NAME` characters,
    or holding a control or format character (Unicode category Cc or Cf: line breaks, tabs,
    bidi overrides, zero-width characters). The reason names the character's code point,
    never the name itself (it may be what the caller wants written somewhere)."""
    if len(name) > MAX_DISPLAY_NAME:
        return (
            f"the name given with the token is {len(name)} characters long; at most "
            f"{MAX_DISPLAY_NAME} are allowed"
        )
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            what = unicodedata.name(ch, "control character")
            return (
                f"the name given with the token holds U+{ord(ch):04X} ({what}); control and "
                "format characters are not allowed in a name"
            )
    return None


def _fold(name: str) -> str:
    """``name`` as compared with the users file's names: surrounding whitespace and case
    ignored (``Alice ``, ``ALICE`` and ``alice`` are one person)."""
    return name.strip().casefold()


def is_token_identity(user: str) -> bool:
    """Whether ``user`` is an identity made by :func:`token_identity` (a users file may not
    hold such a name: :func:`load_users_with_roles` refuses it)."""
    return user == TOKEN_USER or user.startswith(f"{TOKEN_USER} (as ")


def refusal(user: str, role: str, method: str, path: str) -> str | None:
    """The 403 message for a request ``role`` may not send (None: allowed). Names the user
    (or the API token and ``--token-role``), the role, what was refused and the fix; never
    a secret."""
    if may(role, method):
        return None
    what = next((w for rx, w in _ACTIONS if rx.match(path)), f"{method.upper()} {path}")
    if is_token_identity(user):
        return (
            f"{user} (VITALS_API_TOKEN, --token-role {role}) is a {role}: {what} needs the "
            f"{CLINICIAN} role (an administrator restarts `vitals serve` with "
            f"--token-role {CLINICIAN}, or you log in with your own clinician account)"
        )
    return (
        f"{user} is a {role}: {what} needs the {CLINICIAN} role (an administrator adds "
        f"':{CLINICIAN}' to {user}'s line in the users file)"
    )


def parse_role(text: str, where: str) -> str:
    """``text`` as a role name; ``ConfigError`` naming ``where`` and the roles known."""
    role = text.strip().lower()
    if role not in ROLES:
        raise ConfigError(f"{where}: unknown role {text!r}; roles are {', '.join(ROLES)}")
    return role


def load_users(path: str) -> dict[str, str]:
    """``name -> argon2 hash`` from a users file; ``ConfigError`` naming FILE:LINE."""
    return {name: hashed for name, (hashed, _role) in load_users_with_roles(path).items()}


def load_users_with_roles(path: str) -> dict[str, tuple[str, str]]:
    """``name -> (argon2 hash, role)`` from a users file of ``NAME:HASH[:ROLE]`` lines (a
    line without a role: :data:`DEFAULT_ROLE`); ``ConfigError`` naming FILE:LINE."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read users file {path}: {e.strerror}") from None
    users: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        hashed, has_role, role = rest.partition(":")  # an argon2 hash has no ':'
        name, hashed = name.strip(), hashed.strip()
        if not sep or not name or not hashed.startswith("$argon2"):
            raise ConfigError(
                f"{path}:{n}: expected NAME:ARGON2-HASH[:ROLE]; make a line with "
                "`vitals serve --hash-password NAME --role ROLE >> " + path + "`"
            )
        if name in users:
            raise ConfigError(f"{path}:{n}: user {name!r} is listed twice")
        if name.lower().startswith(TOKEN_USER):
            raise ConfigError(
                f"{path}:{n}: user name {name!r} is reserved: {TOKEN_USER!r} is who presents "
                "VITALS_API_TOKEN; choose another name"
            )
        users[name] = (hashed, parse_role(role, f"{path}:{n}") if has_role else DEFAULT_ROLE)
    if not users:
        raise ConfigError(
            f"users file {path} lists no users; add one with "
            f"`vitals serve --hash-password NAME >> {path}`"
        )
    return users


@dataclass
class Authenticator:
    """Checks an ``Authorization`` header; ``enabled`` is False when no auth is configured.

    ``users``: name -> argon2 hash; ``roles``: name -> role (a user not in it is a
    :data:`DEFAULT_ROLE`); ``token_role``: the role of whoever presents the token."""

    users: dict[str, str] = field(default_factory=dict, repr=False)
    token: str | None = field(default=None, repr=False)
    roles: dict[str, str] = field(default_factory=dict)
    token_role: str = DEFAULT_ROLE
    _good: set[bytes] = field(default_factory=set, repr=False)  # digests of verified pairs
    _folded: frozenset[str] = field(default=frozenset(), repr=False)  # users' names, _fold
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._folded = frozenset(_fold(n) for n in self.users)
        self.token_role = parse_role(self.token_role, "--token-role")
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

    @classmethod
    def from_file(cls, path: str, *, token: str | None = None, token_role: str = DEFAULT_ROLE):
        """An authenticator for a users file (see :func:`load_users_with_roles`)."""
        entries = load_users_with_roles(path)
        return cls(
            users={n: h for n, (h, _r) in entries.items()},
            roles={n: r for n, (_h, r) in entries.items()},
            token=token,
            token_role=token_role,
        )

    def user(self, header: str | None) -> str | None:
        """The authenticated user's name, or None if the header does not authenticate."""
        found = self.identify(header) if self.enabled else None
        return found[0] if found else None

    def identify(self, header: str | None) -> tuple[str, str] | None:
        """``(name, role)`` of the authenticated caller, or None if the header does not
        authenticate. With auth off every caller is a clinician (see the module)."""
        if not self.enabled:
            return LOCAL_USER, CLINICIAN
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer":
            return (TOKEN_USER, self.token_role) if self._token_ok(value) else None
        basic = _basic(scheme, value)
        if basic is None:
            return None
        name, password = basic
        if self._password_ok(name, password):
            return name, self.roles.get(name, DEFAULT_ROLE)
        if self._token_ok(password) and self._token_name_problem(name) is None:
            return token_identity(name), self.token_role
        return None

    def _token_name_problem(self, name: str) -> str | None:
        """Why the token may not be presented with display name ``name`` (None: it may)."""
        if _fold(name) in self._folded:
            shown = next(n for n in self.users if _fold(n) == _fold(name))
            return (
                f"{shown} is a user of the users file and the token is not their password: "
                f"log in with {shown}'s own password, or present the token as "
                "'Authorization: Bearer' (or with a name that is not in the users file)"
            )
        return display_name_problem(name)

    def failure(self, header: str | None) -> str:
        """The 401 message for a header :meth:`identify` did not accept. Only a caller who
        already holds the token learns that its user name is taken by the users file."""
        if header is None:
            return "authentication required: log in with your user name and password"
        scheme, _, value = header.partition(" ")
        basic = _basic(scheme.lower(), value.strip())
        if basic and self._token_ok(basic[1]):
            problem = self._token_name_problem(basic[0])
            if problem:
                return problem
        return "wrong user name, password or token"

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


def _basic(scheme: str, value: str) -> tuple[str, str] | None:
    """``(name, password)`` of an HTTP Basic credential (``scheme`` lower-cased), or None."""
    if scheme != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep and name else None
