"""Roles in the users file and what each may do (pure logic: no server). The 403s and their
audit rows against the real servers are in tests/integration/test_web_roles.py."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from vitals.audit import outcome
from vitals.errors import ConfigError
from vitals.web.auth import Authenticator, hash_password, load_users_with_roles, refusal
from vitals.web.middleware import WardSessions

HASH = hash_password("s3cret-pass")


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_a_line_without_a_role_is_a_viewer_and_a_role_is_read(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"# staff\nold:{HASH}\nkim:{HASH}:clinician\nlee:{HASH}:Viewer\n")
    assert {n: r for n, (_h, r) in load_users_with_roles(str(users)).items()} == {
        "old": "viewer",
        "kim": "clinician",
        "lee": "viewer",
    }


def test_an_unknown_role_is_named_with_its_line(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"kim:{HASH}:admin\n")
    with pytest.raises(ConfigError) as e:
        load_users_with_roles(str(users))
    assert str(e.value) == f"{users}:1: unknown role 'admin'; roles are viewer, clinician"


def test_from_file_gives_each_user_their_role(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"old:{HASH}\nkim:{HASH}:clinician\n")
    auth = Authenticator.from_file(str(users))
    assert auth.identify(basic("old", "s3cret-pass")) == ("old", "viewer")
    assert auth.identify(basic("kim", "s3cret-pass")) == ("kim", "clinician")
    assert auth.identify(basic("kim", "wrong")) is None


def test_without_auth_everyone_is_a_clinician_as_before_roles():
    assert Authenticator().identify(None) == ("local", "clinician")


TOKEN = "t0ken-shared-by-the-ward-0123"


def test_the_token_with_a_users_file_name_is_refused_and_the_holder_told_why():
    auth = Authenticator(users={"alice": HASH}, roles={"alice": "clinician"}, token=TOKEN)
    assert auth.identify(basic("alice", TOKEN)) is None
    assert auth.failure(basic("alice", TOKEN)) == (
        "alice is a user of the users file and the token is not their password: log in with "
        "alice's own password, or present the token as 'Authorization: Bearer' (or with a "
        "name that is not in the users file)"
    )
    assert auth.failure(basic("alice", "guess")) == "wrong user name, password or token"


@pytest.mark.parametrize(
    ("header", "who"),
    [
        (f"Bearer {TOKEN}", "api-token"),
        (basic("DrHouse", TOKEN), "api-token (as DrHouse)"),
        (basic("Dr Lee-Müller", TOKEN), "api-token (as Dr Lee-Müller)"),
        (basic("x" * 64, TOKEN), f"api-token (as {'x' * 64})"),
    ],
)
def test_a_request_authenticated_by_the_token_is_the_tokens_identity(header, who):
    auth = Authenticator(
        users={"alice": HASH}, roles={"alice": "clinician"}, token=TOKEN, token_role="clinician"
    )
    assert auth.identify(header) == (who, "clinician")


def test_a_users_file_may_not_hold_the_tokens_name(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"kim:{HASH}\nAPI-token:{HASH}:clinician\n")
    with pytest.raises(ConfigError) as e:
        load_users_with_roles(str(users))
    assert str(e.value) == (
        f"{users}:2: user name 'API-token' is reserved: 'api-token' is who presents "
        "VITALS_API_TOKEN; choose another name"
    )


@pytest.mark.parametrize("name", ["Alice", "alice ", " ALICE\t", "aLiCe"])
def test_the_token_with_a_users_name_in_another_case_or_with_spaces_is_refused(name):
    auth = Authenticator(users={"alice": HASH}, roles={"alice": "clinician"}, token=TOKEN)
    assert auth.identify(basic(name, TOKEN)) is None
    assert auth.failure(basic(name, TOKEN)).startswith(
        "alice is a user of the users file and the token is not their password"
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (
            "Lee\n2026-11-29 alice GET /api/patients/B00 200",
            "holds U+000A (control character)",
        ),
        ("Lee\rx", "holds U+000D (control character)"),
        ("Lee\x1b[2J", "holds U+001B (control character)"),
        ("Lee\u202eecila", "holds U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("Lee\u200b", "holds U+200B (ZERO WIDTH SPACE)"),
        ("L" * 65, "is 65 characters long; at most 64 are allowed"),
        ("L" * 5000, "is 5000 characters long; at most 64 are allowed"),
    ],
)
def test_a_display_name_that_could_forge_an_audit_line_is_refused_with_the_reason(name, why):
    auth = Authenticator(users={"alice": HASH}, token=TOKEN, token_role="clinician")
    assert auth.identify(basic(name, TOKEN)) is None
    message = auth.failure(basic(name, TOKEN))
    assert message.startswith(f"the name given with the token {why}")
    assert "\n" not in message and "\u202e" not in message and len(message) < 200
    # without the token nobody learns why: the usual message
    assert auth.failure(basic(name, "guess")) == "wrong user name, password or token"


@pytest.mark.parametrize("who", ["api-token", "api-token (as alice)"])
def test_a_refusal_of_the_token_names_the_token_and_its_role_option(who):
    assert refusal(who, "viewer", "POST", "/api/audio/pause") == (
        f"{who} (VITALS_API_TOKEN, --token-role viewer) is a viewer: pausing alarm audio needs "
        "the clinician role (an administrator restarts `vitals serve` with --token-role "
        "clinician, or you log in with your own clinician account)"
    )


def test_a_bad_token_role_is_refused():
    with pytest.raises(ConfigError, match="--token-role: unknown role 'nurse'"):
        Authenticator(token="x" * 20, token_role="nurse")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_every_role_may_read(method):
    assert refusal("vera", "viewer", method, "/api/patients") is None
    assert refusal("carol", "clinician", method, "/api/patients") is None


@pytest.mark.parametrize(
    ("method", "path", "what"),
    [
        ("POST", "/api/patients/P1/alerts/low_spo2/ack", "acknowledging an alarm"),
        ("POST", "/api/audio/pause", "pausing alarm audio"),
        ("POST", "/api/audio/resume", "resuming alarm audio"),
        ("POST", "/api/patients/P1/end-monitoring", "ending monitoring"),
        ("PUT", "/api/patients/P1/register", "placing a patient"),
        ("DELETE", "/api/anything/new", "DELETE /api/anything/new"),  # unknown: refused too
    ],
)
def test_a_viewer_may_not_change_anything_a_clinician_may(method, path, what):
    assert refusal("vera", "viewer", method, path) == (
        f"vera is a viewer: {what} needs the clinician role (an administrator adds "
        "':clinician' to vera's line in the users file)"
    )
    assert refusal("carol", "clinician", method, path) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "ok"), (304, "ok"), (403, "refused"), (404, "not-found"), (400, "rejected"),
     (409, "rejected"), (500, "failed"), (503, "failed")],
)  # fmt: skip
def test_the_outcome_of_a_status(status, expected):
    assert outcome(status) == expected


def test_a_ward_session_is_one_user_from_one_address_per_day():
    s = WardSessions()
    day = datetime(2026, 11, 29, tzinfo=UTC).date()
    assert s.first("vera", "10.0.0.5", day)
    assert not s.first("vera", "10.0.0.5", day)  # a refresh
    assert s.first("vera", "10.0.0.6", day)  # another workstation
    assert s.first("carol", "10.0.0.5", day)  # another user
    assert s.first("vera", "10.0.0.5", day.replace(day=30))  # the next day


def test_the_cli_offers_the_outcomes_the_trail_records():
    from vitals.audit import OUTCOMES
    from vitals.cli_audit import OUTCOMES as OFFERED

    assert OFFERED == OUTCOMES


def test_hash_password_with_a_role_makes_a_line_with_that_role(tmp_path):
    from click.testing import CliRunner

    from vitals.cli import cli

    result = CliRunner().invoke(
        cli, ["serve", "--hash-password", "kim", "--role", "clinician"], input="s3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("kim:$argon2id$") and line.endswith(":clinician")
    users = tmp_path / "users.txt"
    users.write_text(line + "\n")
    assert Authenticator.from_file(str(users)).identify(basic("kim", "s3cret-pass")) == (
        "kim",
        "clinician",
    )


def test_role_without_hash_password_is_refused():
    from click.testing import CliRunner

    from vitals.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--role", "clinician"])
    assert result.exit_code == 2
    assert "Error: --role goes with --hash-password NAME" in result.output
