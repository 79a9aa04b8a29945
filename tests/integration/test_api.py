"""The HTTP API over a real socket (uvicorn on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from openapi_spec_validator import validate
from pydantic import SecretStr
from sqlalchemy import select

from cervi.api import create_app
from cervi.bootstrap import Service, build_service
from inference.labels import LABELS
from storage.tables import Delivery
from tests.integration.conftest import make_settings
from tests.support.net import free_port, wait_for_port
from tests.support.seed import seed

TOKEN = "t0ken"


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Service]]:
    settings = make_settings(database_url, tmp_path)
    settings.api.token = SecretStr(TOKEN)
    service = build_service(settings)
    seed(service, tmp_path)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()


def _get(base: str, path: str, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.get(base + path, params=params, headers=headers, timeout=10)


def _uids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["study_uid"] for item in response.json()["items"]]


def test_every_filter_and_pagination(api) -> None:
    base, _ = api
    assert _uids(_get(base, "/api/v1/studies")) == ["1.2.3.2", "1.2.3.1", "1.2.3.0"]
    assert _uids(_get(base, "/api/v1/studies", patient_id="P2")) == ["1.2.3.1"]
    assert _uids(_get(base, "/api/v1/studies", accession="ACC0")) == ["1.2.3.0"]
    assert _uids(_get(base, "/api/v1/studies", date_from="20260201", date_to="20260401")) == [
        "1.2.3.1"
    ]
    assert _uids(_get(base, "/api/v1/studies", state="receiving")) == ["1.2.3.2"]
    assert _uids(_get(base, "/api/v1/studies", finding="atlantoaxial_instability")) == ["1.2.3.0"]
    assert _uids(_get(base, "/api/v1/studies", min_probability=0.25)) == ["1.2.3.1", "1.2.3.0"]
    assert _uids(_get(base, "/api/v1/studies", finding="c2_c3_fusion", min_probability=0.25)) == [
        "1.2.3.1",
        "1.2.3.0",
    ]
    assert _uids(_get(base, "/api/v1/studies", model_version="0.2.0")) == ["1.2.3.1", "1.2.3.0"]
    assert _uids(_get(base, "/api/v1/studies", model_version="0.1.0")) == []
    page = _get(base, "/api/v1/studies", limit=1, offset=1).json()
    assert page["total"] == 3 and [i["study_uid"] for i in page["items"]] == ["1.2.3.1"]
    assert page["next_cursor"] is not None
    latest = _get(base, "/api/v1/studies", patient_id="P1").json()["items"][0]["result"]
    assert latest["version"] == 2 and latest["findings"][0]["probability"] == 0.91


def test_cursor_pages_walk_the_list_and_count_is_optional(api) -> None:
    base, _ = api
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "count": "false"} | ({"cursor": cursor} if cursor else {})
        page = _get(base, "/api/v1/studies", **params).json()
        assert page["total"] is None
        seen += [i["study_uid"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["1.2.3.2", "1.2.3.1", "1.2.3.0"]
    first = _get(base, "/api/v1/studies", limit=1).json()
    both = _get(base, "/api/v1/studies", cursor=first["next_cursor"], offset=1)
    assert both.status_code == 422 and both.json()["detail"][0]["loc"] == ["query", "offset"]


def test_study_detail_has_views_results_regions_and_deliveries(api) -> None:
    base, _ = api
    detail = _get(base, "/api/v1/studies/1.2.3.0").json()
    assert detail["instances"][0]["view"] == "flexion"
    assert detail["instances"][0]["view_rule"] == "series_description_flexion"
    assert [r["version"] for r in detail["results"]] == [2, 1]
    assert detail["results"][0]["regions"][0]["box"] == [10, 20, 110, 220]
    adi, motion = detail["results"][0]["measurements"]
    assert (adi["name"], adi["view"], adi["value"], adi["unit"]) == ("adi_mm", "flexion", 4.0, "mm")
    assert adi["lines"] == [[[40.0, 60.0], [60.0, 60.0]]]
    assert (motion["scope"], motion["view"], motion["unit"]) == ("study", None, "deg")
    assert detail["results"][0]["deliveries"][0]["last_error"] == "C-STORE status 0xA900"
    assert _get(base, "/api/v1/studies/9.9.9").status_code == 404


def test_sr_download(api, tmp_path: Path) -> None:
    base, _ = api
    response = _get(base, "/api/v1/studies/1.2.3.0/sr")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom"
    assert response.content == (tmp_path / "sr.dcm").read_bytes()
    assert _get(base, "/api/v1/studies/1.2.3.0/sr", version=1).status_code == 404
    assert _get(base, "/api/v1/studies/1.2.3.2/sr").status_code == 404


def test_token_guards_the_api_but_not_health_and_metrics(api) -> None:
    base, _ = api
    assert httpx.get(base + "/api/v1/studies").status_code == 401
    wrong = httpx.get(base + "/api/v1/studies", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.post(base + "/api/v1/deliveries/1/retry").status_code == 401
    assert httpx.get(base + "/metrics").status_code == 200
    assert httpx.get(base + "/health").status_code in (200, 503)  # listener not started here


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"date_from": "2026-01-01"}, "date_from"),
        ({"limit": 0}, "limit"),
        ({"min_probability": 2}, "min_probability"),
        ({"state": "happy"}, "state"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"finding": "AAI"}, "finding"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(api, params: dict, named: str) -> None:
    base, _ = api
    response = _get(base, "/api/v1/studies", **params)
    assert response.status_code == 422
    assert named in [error["loc"][-1] for error in response.json()["detail"]]


def test_retry_makes_a_failed_delivery_due(api) -> None:
    base, service = api
    with service.sessions() as session:
        delivery_id = session.execute(select(Delivery.id).limit(1)).scalar_one()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{base}/api/v1/deliveries/{delivery_id}/retry", headers=headers)
    assert response.status_code == 202
    with service.sessions() as session:
        assert session.get(Delivery, delivery_id).state == "pending"
    assert httpx.post(f"{base}/api/v1/deliveries/999/retry", headers=headers).status_code == 404


def test_metrics_count_what_is_in_the_database(api) -> None:
    base, _ = api
    text = httpx.get(base + "/metrics").text
    assert "cervi_instances_received_total 3" in text
    assert 'cervi_studies{state="analysed"} 2' in text
    assert 'cervi_results_total{outcome="analysed"} 4' in text
    assert 'cervi_analysis_latency_ms_bucket{le="500"} 2' in text
    assert "cervi_analysis_latency_ms_count 4" in text
    assert 'cervi_deliveries{state="failed"} 4' in text


def test_the_openapi_schema_is_served_and_valid(api) -> None:
    base, _ = api
    schema = httpx.get(base + "/openapi.json").json()
    validate(schema)
    assert "/api/v1/studies/{study_uid}/sr" in schema["paths"]


def test_label_keys_are_an_enum_in_openapi(api) -> None:
    base, _ = api
    schema = httpx.get(base + "/openapi.json").json()
    [finding] = [
        p for p in schema["paths"]["/api/v1/studies"]["get"]["parameters"] if p["name"] == "finding"
    ]
    refs = [option.get("$ref") for option in finding["schema"]["anyOf"]]
    [ref] = [r for r in refs if r]
    enum = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"]
    assert enum == list(LABELS)
    assert _uids(_get(base, "/api/v1/studies", finding=LABELS[0])) == ["1.2.3.0"]


def test_metrics_name_the_model_that_runs(api) -> None:
    base, service = api
    [line] = [
        line
        for line in httpx.get(base + "/metrics").text.splitlines()
        if line.startswith("cervi_model_info{")
    ]
    model = Path(service.settings.inference.model)
    assert f'sha256="{hashlib.sha256(model.read_bytes()).hexdigest()}"' in line
    assert f'name="{model.stem}"' in line and line.endswith("} 1")
    assert re.search(r'version="\d+\.\d+\.\d+"', line)
