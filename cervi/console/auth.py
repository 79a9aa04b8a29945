"""Who may use the console: the API's tokens (``cervi.auth``), as a bearer header or a cookie.

A browser cannot send ``Authorization: Bearer`` by itself, so ``/login`` takes a token in a
form, finds its principal (name and role) in the :class:`cervi.auth.TokenBook` and sets a
cookie that carries that principal signed with a key made when the console starts (never the
token). The cookie is ``HttpOnly`` and ``SameSite=Strict``: another site can neither read it
nor make the browser send it with a forged form, so the console's POST actions need no further
CSRF token. A restart, or a changed token list, means logging in again. Readers see every
page; reprocessing and retrying need an operator, as in the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import quote

from fastapi import Request

from cervi.auth import OPEN_NAME, Principal, Role, TokenBook

COOKIE = "cervi_console"


class LoginRequired(Exception):
    """Raised by the console's guard; the console turns it into a redirect to ``/login``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


class ConsoleSessions:
    """Makes and checks session cookies: ``<principal as base64 JSON>.<HMAC-SHA256>``."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def cookie(self, principal: Principal) -> str:
        data = json.dumps([principal.name, principal.role.value]).encode()
        payload = base64.urlsafe_b64encode(data).decode()
        return f"{payload}.{self._sign(payload)}"

    def principal(self, cookie: str) -> Principal | None:
        payload, _, signature = cookie.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name, role = json.loads(base64.urlsafe_b64decode(payload))
        return Principal(name, Role(role))


def principal_of(request: Request) -> Principal | None:
    """The request's principal: anyone when no token is configured, else a valid bearer token
    or session cookie; None when there is neither."""
    book: TokenBook = request.app.state.tokens
    if book.open:
        return Principal(OPEN_NAME, Role.OPERATOR)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found = book.identify(credentials.strip())
        if found is not None:
            return found
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions.principal(request.cookies.get(COOKIE, ""))


def safe_next(path: str | None) -> str:
    """Where to go after login: a path on this server only (no ``//host`` or scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def login_url(next_path: str) -> str:
    return f"/login?next={quote(safe_next(next_path), safe='/')}"
