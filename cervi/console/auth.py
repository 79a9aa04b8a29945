"""Who may see the console: the API's bearer token, or a browser session cookie made from it.

A browser cannot send ``Authorization: Bearer`` by itself, so ``/login`` takes the token in a
form and sets a cookie holding an HMAC of it (never the token itself). The cookie is
``HttpOnly`` and ``SameSite=Strict``: another site can neither read it nor make the browser send
it with a forged form, so the console's POST actions need no further CSRF token. Changing
``api.token`` invalidates every cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from fastapi import Request
from pydantic import SecretStr

COOKIE = "cervi_console"
_COOKIE_CONTEXT = b"cervi console session v1"


class LoginRequired(Exception):
    """Raised by :func:`require_login`; the console turns it into a redirect to ``/login``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


def session_value(token: SecretStr) -> str:
    """The cookie value for ``token``: an HMAC, so that the cookie does not reveal the token."""
    key = token.get_secret_value().encode()
    return hmac.new(key, _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def token_matches(given: str, token: SecretStr) -> bool:
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def is_authorised(request: Request, token: SecretStr | None) -> bool:
    """No token configured, a valid bearer token, or a valid session cookie."""
    if token is None:
        return True
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(credentials.strip(), token):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def safe_next(path: str | None) -> str:
    """Where to go after login: a path on this server only (no ``//host`` or scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def login_url(next_path: str) -> str:
    return f"/login?next={quote(safe_next(next_path), safe='/')}"
