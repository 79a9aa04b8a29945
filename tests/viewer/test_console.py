"""The operator console in Chromium (puppeteer-core, as the OHIF tier): log in, filter, watch an
instance arrive live, reprocess a study, retry a delivery. The screenshot it leaves
(test-artifacts/viewer/<this test>/console.png) is the README's picture (docs/console.png)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select

from storage.tables import Delivery, Study
from tests.support.console import TOKEN, running_console, store, wait_for
from tests.support.dicom import make_dx
from tests.viewer.ohif import ViewerDeps

DRIVER = Path(__file__).with_name("console_driver.mjs")
TIMEOUT_S = 120


def test_click_through_the_console(
    viewer_deps: ViewerDeps, artifacts: Path, tmp_path: Path
) -> None:
    with running_console(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path) as console:
        job = {
            "base": console.base_url,
            "token": TOKEN,
            "puppeteer": str(viewer_deps.puppeteer),
            "chromium": str(viewer_deps.chromium),
            "outDir": str(artifacts),
            "width": 1400,
            "height": 900,
            "timeoutMs": int(TIMEOUT_S * 1000 * 0.4),
            "finding": "atlantoaxial_instability",
            "studyUid": console.phantom_uid,
        }
        job_file = artifacts / "job.json"
        job_file.write_text(json.dumps(job, indent=2))
        arriving = make_dx(description="C-spine lateral extension", patient_id="LIVE-1")
        with (artifacts / "driver.log").open("w") as log:
            driver = subprocess.Popen(
                ["node", str(DRIVER), str(job_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            assert driver.stdout is not None and driver.stdin is not None
            first = json.loads(driver.stdout.readline() or "{}")
            if first.get("waiting") == "arrival":  # the page is open: send an instance now
                assert store(console.dicom_port, [arriving]) == [0]
                driver.stdin.write(arriving.SOPInstanceUID + "\n")
                driver.stdin.flush()
            out, _ = driver.communicate(timeout=TIMEOUT_S)
        seen = json.loads(out.strip().splitlines()[-1]) if out.strip() else first
        (artifacts / "seen.json").write_text(json.dumps(seen, indent=2))
        assert seen["ok"], seen.get("error")

        assert "/login?next=/" in seen["loginUrl"] and seen["afterLogin"] == console.base_url + "/"
        assert seen["rowsBefore"] == 4
        assert sorted(seen["filtered"]) == sorted(["1.2.3.0", console.phantom_uid])
        assert "finding=atlantoaxial_instability" in seen["filterUrl"]
        assert seen["arrivalShown"] == arriving.SOPInstanceUID and not seen["reloaded"]
        assert seen["reprocessMessage"].startswith("Reprocessing queued")
        assert all("0xA900" in row["text"] for row in seen["failedShown"])
        assert seen["retryMessage"] == f"Delivery {seen['retriedId']} queued: it is sent now."
        assert seen["retriedState"] == "pending"
        assert seen["pageErrors"] == []

        def version() -> int:
            with console.service.sessions() as session:
                uid = console.phantom_uid
                return session.scalar(select(Study.result_version).where(Study.study_uid == uid))

        wait_for(lambda: version() == 2, what="the reprocessed study's version 2")
        with console.service.sessions() as session:
            retried = session.get(Delivery, int(seen["retriedId"]))
            assert retried is not None and retried.state == "pending"
    assert (artifacts / "console.png").stat().st_size > 10_000
