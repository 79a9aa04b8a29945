"""The operator console over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL: login,
pages, filters, the live arrivals fragment and the two actions. Chromium clicks through it in
``tests/viewer/test_console.py``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import select

from cervi.console.auth import COOKIE
from storage.tables import AuditEvent, Delivery, Study
from tests.conftest import fresh_postgres_database
from tests.support.console import (
    READER_TOKEN,
    TOKEN,
    RunningConsole,
    running_console,
    store,
    wait_for,
)
from tests.support.dicom import make_dx

BEARER = {"Authorization": f"Bearer {TOKEN}"}
HTMX = {"HX-Request": "true"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningConsole]:
    """One running Cervi per engine for this module (the tests' actions do not collide)."""
    folder = tmp_path_factory.mktemp("console")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'cervi.db'}"
        else:
            server = request.getfixturevalue("postgres_server")
            url = stack.enter_context(fresh_postgres_database(server))
        yield stack.enter_context(running_console(url, folder))


@pytest.fixture
def browser(console: RunningConsole) -> Iterator[httpx.Client]:
    """A client logged in through the form, as a browser would be (the cookie, no header)."""
    with httpx.Client(base_url=console.base_url, timeout=10) as client:
        response = client.post("/login", data={"token": TOKEN, "next": "/deliveries"})
        assert response.status_code == 303 and response.headers["location"] == "/deliveries"
        assert TOKEN not in response.headers["set-cookie"]
        assert "httponly" in response.headers["set-cookie"].lower()
        assert "samesite=strict" in response.headers["set-cookie"].lower()
        yield client


def test_pages_need_the_token_and_login_sets_a_cookie(console: RunningConsole) -> None:
    base = console.base_url
    anonymous = httpx.get(base + "/?state=failed", timeout=10)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/%3Fstate%3Dfailed"
    fragment = httpx.get(base + "/console/arrivals", headers=HTMX, timeout=10)
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/login")
    assert httpx.post(base + "/deliveries/1/retry", timeout=10).status_code == 303
    wrong = httpx.post(base + "/login", data={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401 and "That is not a token." in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    forged = httpx.get(base + "/", cookies={COOKIE: "0" * 64}, timeout=10)
    assert forged.status_code == 303
    assert httpx.get(base + "/", headers=BEARER, timeout=10).status_code == 200
    outside = httpx.post(base + "/login", data={"token": TOKEN, "next": "//evil.example/"})
    assert outside.headers["location"] == "/"


def test_studies_page_shows_state_views_rules_and_calls(
    browser: httpx.Client, console: RunningConsole
) -> None:
    page = browser.get("/")
    assert page.status_code == 200
    html = page.text
    assert html.index(console.phantom_uid) < html.index("1.2.3.2")  # newest arrival first
    for text in ("P1", "ACC0", "20260101", "analysed", "receiving", "series_description_flexion"):
        assert text in html
    assert "atlantoaxial_instability 91.0%" in html  # a call, with its probability
    assert "/static/htmx.min.js" in html and 'hx-trigger="load, every 2s"' in html
    assert browser.get("/static/htmx.min.js").text.startswith("var htmx=")


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"finding": "atlantoaxial_instability"}, ["1.2.3.0"], ["1.2.3.1", "1.2.3.2"]),
        ({"state": "receiving"}, ["1.2.3.2"], ["1.2.3.0", "1.2.3.1"]),
        ({"patient_id": "P2"}, ["1.2.3.1"], ["1.2.3.0", "1.2.3.2"]),
        ({"accession_number": "ACC0"}, ["1.2.3.0"], ["1.2.3.1"]),
        ({"date_from": "20260201", "date_to": "20260401"}, ["1.2.3.1"], ["1.2.3.0"]),
    ],
)
def test_filters(browser: httpx.Client, query: dict, shown: list, hidden: list) -> None:
    html = browser.get("/", params=query).text
    for uid in shown:
        assert f'data-study-uid="{uid}"' in html
    for uid in hidden:
        assert f'data-study-uid="{uid}"' not in html


def test_a_bad_filter_value_is_named_on_the_page(browser: httpx.Client) -> None:
    html = browser.get("/", params={"finding": "AAI", "date_from": "2026-01-01"}).text
    assert "unknown finding &#39;AAI&#39;" in html and "atlantoaxial_instability" in html
    assert "date from must be YYYYMMDD; ignored" in html
    assert 'data-study-uid="1.2.3.0"' in html  # the rest of the filter still applies


def test_study_page_shows_views_results_and_delivery_errors(
    browser: httpx.Client, console: RunningConsole
) -> None:
    html = browser.get(f"/studies/{console.phantom_uid}").text
    for view in ("extension", "neutral", "flexion"):
        assert f"<td>{view}</td>" in html
    assert "Result version 1: analysed" in html and "CerviHFENet-test" in html
    assert "connection refused" in html.lower()  # the delivery's own error
    assert 'id="reprocess"' in html and 'class="retry"' in html
    assert browser.get("/studies/9.9.9").status_code == 404


def test_deliveries_and_retry(browser: httpx.Client, console: RunningConsole) -> None:
    html = browser.get("/deliveries", params={"state": "failed"}).text
    assert "C-STORE status 0xA900" in html and "1.2.3.0" in html
    assert "connection refused" not in html.lower()  # that one is pending, not failed
    with console.service.sessions() as session:
        failed = session.scalars(select(Delivery.id).where(Delivery.state == "failed")).first()
    answer = browser.post(f"/deliveries/{failed}/retry", headers=HTMX)
    assert answer.status_code == 200 and f"Delivery {failed} queued" in answer.text
    with console.service.sessions() as session:
        assert session.get(Delivery, failed).state == "pending"
    plain = browser.post(f"/deliveries/{failed}/retry")
    assert plain.status_code == 303 and plain.headers["location"] == "/deliveries"
    assert "No delivery 99999" in browser.post("/deliveries/99999/retry", headers=HTMX).text


def test_reprocess_makes_a_new_result_version(
    browser: httpx.Client, console: RunningConsole
) -> None:
    uid = console.phantom_uid

    def version() -> int:
        with console.service.sessions() as session:
            return session.scalar(select(Study.result_version).where(Study.study_uid == uid))

    before = version()
    answer = browser.post(f"/studies/{uid}/reprocess", headers=HTMX)
    assert answer.status_code == 200 and "Reprocessing queued" in answer.text
    wait_for(lambda: version() == before + 1, what="a new result version")
    assert "No study 9.9" in browser.post("/studies/9.9/reprocess", headers=HTMX).text


def test_refusals_come_from_the_audit_table(browser: httpx.Client) -> None:
    html = browser.get("/refusals").text
    assert "STRANGER" in html and "NOT-CERVI" in html
    assert "Nothing refused" not in html
    kinds = browser.get("/refusals", params={"kind": "no_such_kind"}).text
    assert "STRANGER" in kinds  # an unknown kind is no filter


def test_the_arrivals_fragment_shows_a_new_instance(
    browser: httpx.Client, console: RunningConsole
) -> None:
    ds = make_dx(description="C-spine lateral flexion")
    assert ds.SOPInstanceUID not in browser.get("/console/arrivals", headers=HTMX).text
    assert store(console.dicom_port, [ds]) == [0]
    fragment = browser.get("/console/arrivals", headers=HTMX).text
    assert ds.SOPInstanceUID in fragment and "MODALITY" in fragment


def test_a_reader_sees_but_may_not_act(console: RunningConsole) -> None:
    with httpx.Client(base_url=console.base_url, timeout=10) as reader:
        assert reader.post("/login", data={"token": READER_TOKEN}).status_code == 303
        assert reader.get("/deliveries").status_code == 200
        with console.service.sessions() as session:
            failed = session.scalars(select(Delivery.id).where(Delivery.state == "failed")).first()
        answer = reader.post(f"/deliveries/{failed}/retry", headers=HTMX)
        assert "an operator&#39;s token is needed" in answer.text
    with console.service.sessions() as session:
        assert session.get(Delivery, failed).state == "failed"
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "api_forbidden")
        ).all()
    assert [e.actor for e in refused] == ["ward"]


def test_actions_are_audited_with_the_token_name(browser: httpx.Client, console) -> None:
    browser.post("/deliveries/99999/retry", headers=HTMX)
    with console.service.sessions() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "api_delivery_retry")
        ).all()
    assert ("api.token", "delivery 99999: no such delivery") in [(e.actor, e.detail) for e in rows]
