"""The console's routes: pages, the live arrivals fragment, login, and the two actions.

Filters arrive as plain query strings from a GET form (bookmarkable; htmx only swaps the table),
and a bad value is shown on the page rather than answered with the API's JSON 422. Actions are
POST forms: with htmx they answer a one-line fragment for the page's message area, without it a
redirect back to the page.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cervi.auth import Principal, Role, TokenBook
from cervi.bootstrap import Service
from cervi.console.auth import COOKIE, ConsoleSessions, LoginRequired, principal_of, safe_next
from storage.activity import (
    list_deliveries,
    list_refusals,
    recent_arrivals,
    refusal_kinds,
    views_by_study,
)
from storage.db import transaction
from storage.detail import study_detail
from storage.instances import add_audit
from storage.queries import StudyFilter, list_studies
from storage.states import StudyState
from storage.tables import DeliveryState

PAGE_SIZE = 50
ARRIVALS_SHOWN = 8
POLL_SECONDS = 2
DATE = re.compile(r"^\d{8}$")


def _when(value: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` UTC, for tables."""
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def _abbreviated(uid: str | None, keep: int = 14) -> str:
    """A long UID as ``…`` and its last ``keep`` characters (whole in a title)."""
    if not uid or len(uid) <= keep + 1:
        return uid or ""
    return "…" + uid[-keep:]


def make_templates() -> Jinja2Templates:
    """The console's templates with its filters (built by ``mount_console``, not at import)."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["when"] = _when
    env.filters["abbrev"] = _abbreviated
    env.filters["pct"] = lambda p: "" if p is None else f"{100 * p:.1f}%"
    env.globals["poll_seconds"] = POLL_SECONDS
    return Jinja2Templates(env=env)


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def require_login(request: Request) -> Principal:
    """Pages and actions need an API token (header) or the console's session cookie."""
    principal = principal_of(request)
    if principal is None:
        query = request.url.query
        raise LoginRequired(request.url.path + (f"?{query}" if query else ""))
    return principal


router = APIRouter(include_in_schema=False)
guarded = APIRouter(include_in_schema=False, dependencies=[Depends(require_login)])


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.console_templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
    return _render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the token from the form; on success set the session cookie and go on."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    target = safe_next(form.get("next", ["/"])[0])
    book: TokenBook = request.app.state.tokens
    response = RedirectResponse(target, status_code=303)
    if book.open:
        return response
    principal = book.identify(form.get("token", [""])[0])
    if principal is None:
        return _render(request, "login.html", 401, next=target, error="That is not a token.")
    sessions: ConsoleSessions = request.app.state.console_sessions
    response.set_cookie(
        COOKIE,
        sessions.cookie(principal),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def _study_filter(params: dict[str, str], labels: tuple[str, ...]) -> tuple[StudyFilter, list[str]]:
    """The filter the form asked for, and a message for each value that had to be left out."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name in ("patient_id", "accession_number", "date_from", "date_to", "state", "finding"):
        value = params.get(name, "").strip()
        if not value:
            continue
        if name.startswith("date_") and not DATE.match(value):
            errors.append(f"{name.replace('_', ' ')} must be YYYYMMDD; ignored")
        elif name == "state" and value not in [s.value for s in StudyState]:
            errors.append(f"unknown state {value!r}; ignored")
        elif name == "finding" and value not in labels:
            errors.append(f"unknown finding {value!r} (labels: {', '.join(labels)}); ignored")
        else:
            values[name] = value
    offset = params.get("offset", "0")
    values["offset"] = int(offset) if offset.isdigit() else 0
    return StudyFilter(limit=PAGE_SIZE, **values), errors


@guarded.get("/", response_class=HTMLResponse)
def studies_page(request: Request) -> HTMLResponse:
    """Studies, newest arrivals first, with their views, calls and filters; arrivals live."""
    service = _service(request)
    labels = service.label_keys()
    where, errors = _study_filter(dict(request.query_params), labels)
    with service.sessions() as session:
        page = list_studies(session, where)
        total, studies = page.total, page.items
        views = views_by_study(session, [s["study_uid"] for s in studies])
    return _render(
        request,
        "studies.html",
        studies=studies,
        views=views,
        total=total,
        where=where,
        errors=errors,
        labels=labels,
        states=[s.value for s in StudyState],
        page_size=PAGE_SIZE,
    )


@guarded.get("/console/arrivals", response_class=HTMLResponse)
def arrivals_fragment(request: Request) -> HTMLResponse:
    """The newest instances (polled by htmx every few seconds)."""
    with _service(request).sessions() as session:
        arrivals = recent_arrivals(session, ARRIVALS_SHOWN)
    return _render(request, "_arrivals.html", arrivals=arrivals)


@guarded.get("/studies/{study_uid}", response_class=HTMLResponse)
def study_page(request: Request, study_uid: str) -> HTMLResponse:
    with _service(request).sessions() as session:
        detail = study_detail(session, study_uid)
    if detail is None:
        return _render(request, "missing.html", 404, what=f"study {study_uid}")
    return _render(request, "study.html", study=detail)


@guarded.get("/deliveries", response_class=HTMLResponse)
def deliveries_page(request: Request, state: str = "") -> HTMLResponse:
    states = [s.value for s in DeliveryState]
    chosen = state if state in states else ""
    with _service(request).sessions() as session:
        deliveries = list_deliveries(session, chosen or None)
    return _render(request, "deliveries.html", deliveries=deliveries, states=states, state=chosen)


@guarded.get("/refusals", response_class=HTMLResponse)
def refusals_page(request: Request, kind: str = "") -> HTMLResponse:
    with _service(request).sessions() as session:
        kinds = refusal_kinds(session)
        chosen = kind if kind in kinds else ""
        refusals = list_refusals(session, chosen or None)
    return _render(request, "refusals.html", refusals=refusals, kinds=kinds, kind=chosen)


def _audit(request: Request, kind: str, principal: Principal, **fields: Any) -> None:
    """The console's writes (and refused ones) are audited like the API's, with the token's name."""
    with transaction(_service(request).sessions) as session:
        add_audit(session, kind, actor=principal.name, **fields)


def _may_operate(request: Request, principal: Principal) -> bool:
    if principal.may(Role.OPERATOR):
        return True
    detail = f"console {request.url.path}: role {principal.role.value}"
    _audit(request, "api_forbidden", principal, detail=detail)
    return False


def _acted(request: Request, message: str, back: str, ok: bool = True) -> Response:
    if request.headers.get("hx-request"):
        # 200 either way: htmx swaps only successful responses into the message area.
        return _render(request, "_message.html", message=message, ok=ok)
    return RedirectResponse(back, status_code=303)


FORBIDDEN = "Your token's role may not do this: an operator's token is needed."


@router.post("/studies/{study_uid}/reprocess", response_model=None)
def reprocess(
    request: Request, study_uid: str, principal: Annotated[Principal, Depends(require_login)]
) -> Response:
    if not _may_operate(request, principal):
        return _acted(request, FORBIDDEN, f"/studies/{study_uid}", ok=False)
    found = _service(request).reprocess(study_uid)
    detail = "reprocessing queued" if found else "no such study"
    _audit(request, "api_reprocess", principal, study_uid=study_uid[:64], detail=detail)
    if not found:
        return _acted(request, f"No study {study_uid}.", "/", ok=False)
    message = f"Reprocessing queued for {study_uid}: a new result version follows."
    return _acted(request, message, f"/studies/{study_uid}")


@router.post("/deliveries/{delivery_id}/retry", response_model=None)
def retry_delivery(
    request: Request, delivery_id: int, principal: Annotated[Principal, Depends(require_login)]
) -> Response:
    if not _may_operate(request, principal):
        return _acted(request, FORBIDDEN, "/deliveries", ok=False)
    found = _service(request).retry_delivery(delivery_id)
    detail = f"delivery {delivery_id}: " + ("queued" if found else "no such delivery")
    _audit(request, "api_delivery_retry", principal, detail=detail)
    if not found:
        return _acted(request, f"No delivery {delivery_id}.", "/deliveries", ok=False)
    return _acted(request, f"Delivery {delivery_id} queued: it is sent now.", "/deliveries")


router.include_router(guarded)
