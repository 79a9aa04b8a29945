"""The operator console: server-rendered pages (Jinja2) made live with htmx, at ``/``.

What the hospital's engineer needs to see without SQL: the studies with their state, views and
the rule that named each, the calls, the deliveries with their errors, the refusals from the
audit table, and what is arriving now; and the two actions the API offers (reprocess a study,
retry a delivery). It reads through ``storage``'s query functions and acts through the
:class:`cervi.bootstrap.Service`, like the API.

htmx is shipped as a static file, no build step: ``static/htmx.min.js`` is ``dist/htmx.min.js``
of the npm package ``htmx.org`` 2.0.11 (``npm pack htmx.org@2.0.11``; licence 0BSD, in
``static/htmx.LICENSE``). The pages use ``hx-get``, ``hx-post``, ``hx-trigger="every 2s"``,
``hx-target``, ``hx-select`` and ``hx-push-url`` as htmx 2 defines them (e.g. only 2xx responses
are swapped) and are tested in Chromium with this file; a new major version needs that test.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cervi.bootstrap import Service
from cervi.console.auth import ConsoleSessions, LoginRequired, login_url
from cervi.console.pages import make_templates, router

STATIC = Path(__file__).with_name("static")


def mount_console(app: FastAPI, service: Service) -> None:
    """Add the console's pages, its static files and its login redirect to ``app``."""
    app.state.service = service
    app.state.console_templates = make_templates()
    app.state.console_sessions = ConsoleSessions()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    def _to_login(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_path)
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load (a 303 would be swapped in).
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
