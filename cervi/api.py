"""The HTTP API (FastAPI): health and metrics for operations, ``/api/v1`` for results, and the
operator console (``cervi.console``) at ``/``.

Bearer tokens with roles (``cervi.auth``) guard ``/api/v1``: a reader reads, an operator also
reprocesses and retries, and each write (and each refused one) leaves an audit row naming the
token; the console takes the same tokens. ``/health`` and ``/metrics`` stay open for load
balancers and Prometheus. Domain errors become HTTP codes here and nowhere else.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from cervi import api_models as m
from cervi import metrics
from cervi.auth import OPERATOR, READER, Forbidden, Principal, TokenBook
from cervi.bootstrap import Service
from cervi.console import mount_console
from storage.db import current_revision, ping, transaction
from storage.detail import sr_path, study_detail
from storage.instances import add_audit
from storage.queries import (
    InvalidCursor,
    Position,
    StudyFilter,
    list_studies,
)
from storage.states import StudyState

DATE = r"^\d{8}$"
# Integers the database can compare with: versions and ids are 32-bit columns, OFFSET takes a
# 64-bit one. A larger number is a 422 here, not a 500 from the driver.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Free text the database can hold: PostgreSQL refuses NUL in text, which would be a 500.
TEXT = r"^[^\x00]{0,256}$"
UID_PATH = Annotated[str, Path(pattern=r"^[0-9.]{1,64}$", description="a DICOM UID")]
STATE = f"^({'|'.join(StudyState)})$"


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Cervi", version="0.1.0", summary="Cervical spine AI results")
    app.state.service = service
    app.state.tokens = TokenBook(service.settings.api)
    # The label keys the running model reports, as an enum: OpenAPI lists them and an unknown
    # key is a 422, not a filter that silently matches nothing.
    label = enum.StrEnum("Label", {key: key for key in service.label_keys()})  # type: ignore[misc]

    def audit(kind: str, principal: Principal, **fields: Any) -> None:
        with transaction(service.sessions) as session:
            add_audit(session, kind, actor=principal.name, **fields)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        detail = f"{request.method} {request.url.path}: role {exc.principal.role.value}"
        audit("api_forbidden", exc.principal, detail=detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """Database reachable and migrated, free disk above the threshold, listener running and
        not saturated (503 with ``status: degraded`` otherwise)."""
        body = _health(service)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Counters and gauges in the Prometheus text format."""
        with service.sessions() as session:
            body = metrics.render(session)
        body += metrics.render_model(service.model_identity())
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    def studies(
        patient_id: str | None = Query(None, pattern=TEXT),
        accession_number: str | None = Query(None, alias="accession", pattern=TEXT),
        date_from: str | None = Query(None, pattern=DATE, description="YYYYMMDD, inclusive"),
        date_to: str | None = Query(None, pattern=DATE, description="YYYYMMDD, inclusive"),
        state: str | None = Query(None, pattern=STATE),
        finding: str | None = Query(
            None, pattern=TEXT, description="label key present in the latest result"
        ),
        min_probability: float | None = Query(None, ge=0, le=1),
        model_version: str | None = Query(None, pattern=TEXT),
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=INT64_MAX),
        cursor: str | None = Query(
            None, description="next_cursor of the previous page: the page after it (keyset)"
        ),
        count: bool = Query(True, description="false: leave total out (null)"),
    ) -> dict[str, Any]:
        """Studies with their latest result, newest first, filtered and paginated: by
        ``cursor`` (each page costs the same, however deep) or by ``offset``."""
        try:
            after = Position.decode(cursor) if cursor is not None else None
        except InvalidCursor as exc:
            raise _invalid("cursor", str(exc)) from None
        if after is not None and offset:
            raise _invalid("offset", "give either cursor or offset, not both")
        where = StudyFilter(
            patient_id=patient_id,
            accession_number=accession_number,
            date_from=date_from,
            date_to=date_to,
            state=state,
            finding=str(finding) if finding is not None else None,
            min_probability=min_probability,
            model_version=model_version,
            limit=limit,
            offset=offset,
            after=after,
        )
        with service.sessions() as session:
            page = list_studies(session, where, count=count)
        return {
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "next_cursor": page.next_cursor,
            "items": page.items,
        }

    # The enum exists only now, so it is given to FastAPI as a type, not as a string annotation.
    studies.__annotations__["finding"] = label | None
    app.get(
        "/api/v1/studies",
        tags=["studies"],
        response_model=m.StudyList,
        dependencies=[Depends(READER)],
    )(studies)

    @app.get(
        "/api/v1/studies/{study_uid}",
        tags=["studies"],
        response_model=m.StudyDetail,
        dependencies=[Depends(READER)],
    )
    def study(study_uid: UID_PATH) -> dict[str, Any]:
        """One study: its views (and the rule that named each), result versions, deliveries."""
        with service.sessions() as session:
            detail = study_detail(session, study_uid)
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such study")
        return detail

    @app.get(
        "/api/v1/studies/{study_uid}/sr",
        tags=["studies"],
        response_class=FileResponse,
        dependencies=[Depends(READER)],
    )
    def structured_report(
        study_uid: UID_PATH, version: int | None = Query(None, ge=1, le=INT32_MAX)
    ) -> FileResponse:
        """The SR of the newest (or the given) result version, as application/dicom."""
        with service.sessions() as session:
            path = sr_path(session, study_uid, version)
        if path is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no SR for this study (and version)")
        return FileResponse(path, media_type="application/dicom", filename=f"{study_uid}-sr.dcm")

    @app.post(
        "/api/v1/studies/{study_uid}/reprocess",
        tags=["studies"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=m.Accepted,
    )
    def reprocess(
        study_uid: UID_PATH, principal: Annotated[Principal, Depends(OPERATOR)]
    ) -> dict[str, str]:
        """Analyse the study again as a new result version (operators only)."""
        found = service.reprocess(study_uid)
        detail = "reprocessing queued" if found else "no such study"
        audit("api_reprocess", principal, study_uid=study_uid[:64], detail=detail)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such study")
        return {"detail": "reprocessing queued"}

    @app.post(
        "/api/v1/deliveries/{delivery_id}/retry",
        tags=["deliveries"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=m.Accepted,
    )
    def retry_delivery(
        delivery_id: Annotated[int, Path(ge=1, le=INT32_MAX)],
        principal: Annotated[Principal, Depends(OPERATOR)],
    ) -> dict[str, str]:
        """Send a waiting or failed delivery again now (operators only)."""
        found = service.retry_delivery(delivery_id)
        detail = f"delivery {delivery_id}: " + ("queued" if found else "no such delivery")
        audit("api_delivery_retry", principal, detail=detail)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such delivery")
        return {"detail": "delivery queued"}

    mount_console(app, service)
    return app


def _invalid(parameter: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the query parameter."""
    detail = [{"loc": ["query", parameter], "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _health(service: Service) -> dict[str, Any]:
    database: dict[str, Any] = {"ok": False}
    try:
        ping(service.engine)
        database = {
            "ok": True,
            "dialect": service.engine.dialect.name,
            "revision": current_revision(service.engine),
        }
    except Exception as exc:
        database["error"] = type(exc).__name__
    free_mb = service.files.free_mb()
    minimum = service.settings.storage.min_free_disk_mb
    disk = {"ok": free_mb >= minimum, "free_mb": round(free_mb), "min_free_mb": minimum}
    load = service.listener.load()
    listener = {
        # Saturated: a new sender would be refused now (connections or associations at the limit).
        "ok": service.started and not load.saturated,
        "ae_title": service.settings.node.ae_title,
        "port": service.listener.port if service.started else None,
        "saturated": load.saturated,
        "connections": load.connections,
        "max_connections": load.max_connections,
        "associations": load.associations,
        "max_associations": load.max_associations,
        "refusals": load.refusals,
        "tls_port": service.tls_listener.port if service.started and service.tls_listener else None,
    }
    ok = database["ok"] and disk["ok"] and listener["ok"]
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "disk": disk,
        "listener": listener,
    }
