"""The HTTP API (FastAPI). ``GET /health`` reports database and disk; ``/api/v1`` follows."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cervi.bootstrap import Service
from storage.db import current_revision


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Cervi", version="0.1.0", summary="Cervical spine AI results")

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """Database reachable and migrated, free disk above the threshold, listener running."""
        body = _health(service)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return app


def _health(service: Service) -> dict[str, Any]:
    database: dict[str, Any] = {"ok": False}
    try:
        with service.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
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
    listener = {
        "ok": service.started,
        "ae_title": service.settings.node.ae_title,
        "port": service.listener.port if service.started else None,
    }
    ok = database["ok"] and disk["ok"] and listener["ok"]
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "disk": disk,
        "listener": listener,
    }
