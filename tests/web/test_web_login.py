"""Logging in to the web UI: password then second factor, enrolment, recovery codes, CSRF, rate limiting."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from sqlalchemy import func, select
from web_helpers import form_token, log_in, password_step, request_form

from conftest import enrol
from nohaven.auth import service as users
from nohaven.auth.models import WebSession
from nohaven.requests.models import CooperationRequest


def _wrong_code(generator: pyotp.TOTP) -> str:
    """A six-digit code that is none of the codes the server accepts right now (±1 step)."""
    now = time.time()
    valid = {generator.at(now + shift) for shift in (-30, 0, 30)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in valid)


def test_pages_redirect_to_login_without_a_session(client: Any, people: Any) -> None:
    for path in ("/", "/requests/new", "/directory", "/audit", "/requests/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login"


def test_password_alone_does_not_open_the_pages(client: Any, node: Any, people: Any) -> None:
    enrol(node, "olga")
    first = password_step(client, "olga")
    assert first.status_code == 303
    assert first.headers["location"] == "/login/totp"
    cookie = first.cookies.get("nohaven_session") or client.cookies.get("nohaven_session")
    assert cookie
    set_cookie = first.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    # Half-way: the dashboard still sends the user to log in.
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_password_then_totp_logs_in_with_a_new_cookie(client: Any, node: Any, people: Any) -> None:
    generator = enrol(node, "olga")
    password_step(client, "olga")
    half_way = client.cookies.get("nohaven_session")
    page = client.get("/login/totp")
    done = client.post("/login/totp", data={"code": generator.now(), "csrf_token": form_token(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client.cookies.get("nohaven_session") != half_way  # rotated: no session fixation
    home = client.get("/")
    assert home.status_code == 200
    assert "Open requests" in home.text and "olga" in home.text and "officer" in home.text
    with node.work() as session:
        assert session.execute(select(func.count()).select_from(WebSession)).scalar_one() == 1


def test_wrong_password_is_refused(client: Any, people: Any) -> None:
    response = password_step(client, "olga", "not the password at all")
    assert response.status_code == 401
    assert "user name or password is wrong" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_wrong_totp_is_refused(client: Any, node: Any, people: Any) -> None:
    generator = enrol(node, "olga")
    password_step(client, "olga")
    page = client.get("/login/totp")
    refused = client.post("/login/totp", data={"code": _wrong_code(generator), "csrf_token": form_token(page.text)},
                          follow_redirects=False)
    assert refused.status_code == 401
    assert "the code is wrong" in refused.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_recovery_code_works_once(client: Any, node: Any, people: Any) -> None:
    with node.work() as session:
        user = users.get_user(session, "olga")
        secret = users.begin_totp_enrolment(user, node.settings)
        codes = users.confirm_totp_enrolment(session, node.settings, user, pyotp.TOTP(secret).now())
    password_step(client, "olga")
    page = client.get("/login/totp")
    used = client.post("/login/totp", data={"code": codes[0], "csrf_token": form_token(page.text)},
                       follow_redirects=False)
    assert used.status_code == 303 and used.headers["location"] == "/"
    logout = client.post("/logout", data={"csrf_token": form_token(client.get("/").text)}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
    password_step(client, "olga")
    page = client.get("/login/totp")
    again = client.post("/login/totp", data={"code": codes[0], "csrf_token": form_token(page.text)},
                        follow_redirects=False)
    assert again.status_code == 401


def test_enrolment_shows_the_secret_then_the_recovery_codes_once(client: Any, node: Any, people: Any) -> None:
    first = password_step(client, "olga")
    assert first.headers["location"] == "/enrol"
    page = client.get("/enrol")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    assert "otpauth://totp/" in page.text
    generator = pyotp.TOTP(secret)
    wrong = client.post("/enrol", data={"code": "12345", "csrf_token": form_token(page.text)})
    assert wrong.status_code == 422 and "does not match" in wrong.text
    done = client.post("/enrol", data={"code": generator.now(), "csrf_token": form_token(page.text)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    assert client.get("/").status_code == 200
    with node.work() as session:
        assert users.get_user(session, "olga").totp_enabled


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_stores_nothing(client: Any, node: Any,
                                                                               people: Any) -> None:
    token = log_in(client, "olga", enrol(node, "olga"))
    missing = client.post("/requests/new", data=request_form(), follow_redirects=False)
    wrong = client.post("/requests/new", data=request_form(csrf_token=token[:-2] + "xx"), follow_redirects=False)
    header_wrong = client.post("/requests/new", data=request_form(), headers={"X-CSRF-Token": "nope"},
                               follow_redirects=False)
    for response in (missing, wrong, header_wrong):
        assert response.status_code == 403
        assert "security token" in response.text
    with node.work() as session:
        assert session.execute(select(func.count()).select_from(CooperationRequest)).scalar_one() == 0
    accepted = client.post("/requests/new", data=request_form(csrf_token=token), follow_redirects=False)
    assert accepted.status_code == 303


def test_login_form_needs_its_own_token(client: Any, people: Any) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "olga", "password": "correct horse battery"},
                           follow_redirects=False)
    assert response.status_code == 403
    assert client.cookies.get("nohaven_session") is None


def test_sixth_attempt_after_five_failures_is_rate_limited(client: Any, node: Any, people: Any) -> None:
    enrol(node, "olga")
    for _ in range(5):
        assert password_step(client, "olga", "wrong password here").status_code == 401
    limited = password_step(client, "olga")  # even the right password, now
    assert limited.status_code == 429
    assert "too many failed log-ins" in limited.text
    assert client.get("/", follow_redirects=False).status_code == 303
