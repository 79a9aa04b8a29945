"""Who may use the HTTP API: named tokens with roles, kept only as SHA-256 digests.

``api.tokens`` lists clients as ``{name, role, sha256}``; ``cervi token new`` makes a token and
its digest, ``cervi token hash`` digests an existing one. A reader may read results; an
operator may also reprocess studies and retry deliveries. The single ``api.token`` of earlier
configurations still works, as an operator named ``api.token``. With no token configured at
all the API is open (``cervi config check`` says so when it is reachable from other hosts).

Tokens are random (at least 128 bits), so one SHA-256 is enough: there is nothing to
brute-force that a slow KDF would protect. Every digest is compared with
:func:`hmac.compare_digest`, and all of them are compared, so timing says nothing about which
one matched or how much of one did.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cervi.settings import ApiSettings

LEGACY_TOKEN_NAME = "api.token"
OPEN_NAME = "anonymous"
BEARER = HTTPBearer(auto_error=False)


class Role(enum.StrEnum):
    READER = "reader"
    OPERATOR = "operator"


# What each role may do; a role may do everything of the roles ranked below it.
RANK = {Role.READER: 1, Role.OPERATOR: 2}


@dataclass(frozen=True)
class Principal:
    """The API client behind a request: its token's name (audited) and role."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_token(token: str) -> str:
    """The digest that ``api.tokens[].sha256`` holds for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class TokenBook:
    """The configured tokens, resolved to principals."""

    def __init__(self, api: ApiSettings) -> None:
        self._entries: list[tuple[bytes, Principal]] = [
            (bytes.fromhex(t.sha256), Principal(t.name, Role(t.role))) for t in api.tokens
        ]
        if api.token is not None:
            digest = hashlib.sha256(api.token.get_secret_value().encode("utf-8")).digest()
            self._entries.append((digest, Principal(LEGACY_TOKEN_NAME, Role.OPERATOR)))

    @property
    def open(self) -> bool:
        """No token configured: every request is let in as an operator."""
        return not self._entries

    def identify(self, token: str) -> Principal | None:
        """The principal whose token this is, or None."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for stored, principal in self._entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = principal
        return found


def requires(role: Role) -> Callable[..., Principal]:
    """A FastAPI dependency: the request's principal, which must hold ``role``.

    The tokens are the application's (``app.state.tokens``, a :class:`TokenBook`).
    401 without a valid bearer token, 403 with a valid token whose role may not.
    """

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> Principal:
        book: TokenBook = request.app.state.tokens
        if book.open:
            return Principal(OPEN_NAME, Role.OPERATOR)
        principal = book.identify(credentials.credentials) if credentials else None
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.may(role):
            raise Forbidden(principal, role)
        return principal

    return dependency


# The dependencies the routes use: ``Depends(READER)``, ``Depends(OPERATOR)``.
READER = requires(Role.READER)
OPERATOR = requires(Role.OPERATOR)


class Forbidden(HTTPException):
    """A known client asked for something its role does not allow (HTTP 403)."""

    def __init__(self, principal: Principal, needed: Role) -> None:
        super().__init__(
            status.HTTP_403_FORBIDDEN, f"the role {principal.role.value!r} may not do this"
        )
        self.principal = principal
        self.needed = needed
