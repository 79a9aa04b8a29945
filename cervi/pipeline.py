"""Analysis of a dispatched study version: views -> model -> result rows -> SR -> outbox.

:class:`Pipeline` is what the dispatcher runs (``analyse`` and ``report_not_analysed``). Every
path ends in a recorded state: ``analysed`` with its SR queued for delivery, ``not_analysed``
(missing or unreadable views, also with an SR saying so), or ``failed`` with the reason. Only
the current version of a study is written as its state: a study re-opened by a late instance
keeps ``receiving`` (its result row is kept all the same).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol

from pydicom import Dataset, dcmread
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cervi.settings import InferenceSettings
from dicom_node.key_image import CerviKeyImage
from dicom_node.sr import CerviImagingMeasurementReport, CerviNotAnalysedReport, DocumentReference
from inference.result import (
    VIEWS,
    LabelPrediction,
    ModelIdentity,
    RegionOfInterest,
    StudyPrediction,
    UnreadableImage,
)
from storage import assembly as assembly_repo
from storage.db import transaction
from storage.files import InstanceStore
from storage.repository import queue_delivery
from storage.tables import Finding, Instance, Region, Result, Study, StudyState, utcnow

logger = logging.getLogger("cervi.pipeline")

IMAGE_RULE = "image"  # views named by the ROI network's view head, not by a header rule


class Analyser(Protocol):
    """The model runtime as the pipeline sees it (``inference.runtime.CerviRuntime``)."""

    @property
    def identity(self) -> ModelIdentity: ...

    def predict(self, datasets: Mapping[str, Dataset]) -> StudyPrediction: ...

    def name_views(self, datasets: Sequence[Dataset], free: Sequence[str]) -> list[str | None]:
        """The view each image shows, from the image alone, among the ``free`` views (each at
        most once); None for an image that fits none of them."""
        ...


class ModelAnalyser:
    """The shipped ONNX models (``inference.runtime``) behind :class:`Analyser`, loaded on
    first use or by :meth:`load` (``cervi serve`` calls it at start to fail fast)."""

    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self._runtime: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._runtime is None:
                from inference.runtime import CerviRuntime

                self._runtime = CerviRuntime(
                    self.settings.model, self.settings.roi_model, self.settings.threads
                )
            return self._runtime

    @property
    def identity(self) -> ModelIdentity:
        return _identity(self.load().model)

    def predict(self, datasets: Mapping[str, Dataset]) -> StudyPrediction:
        from inference.preprocess import UnreadableImage as PixelError

        runtime = self.load()
        try:
            raw = runtime.analyse_datasets(datasets)
        except PixelError as exc:
            raise UnreadableImage(str(exc)) from exc
        labels = tuple(
            LabelPrediction(key, raw.probabilities[key], runtime.model.thresholds.get(key, 0.5))
            for key in runtime.labels
        )
        regions = {
            view: RegionOfInterest(
                view,
                tuple(float(v) for v in roi["box"]),  # type: ignore[arg-type]
                {name: (float(x), float(y)) for name, (x, y) in roi["landmarks"].items()},
            )
            for view, roi in raw.rois.items()
        }
        return StudyPrediction(labels, tuple(raw.views_used), regions, _identity(runtime.model))

    def name_views(self, datasets: Sequence[Dataset], free: Sequence[str]) -> list[str | None]:
        return _name_views(self.load(), datasets, free)


def _name_views(runtime: Any, datasets: Sequence[Dataset], free: Sequence[str]) -> list[str | None]:
    from inference.roi import assign_views

    detections = runtime.detect([runtime.preprocess(ds) for ds in datasets])
    # Views that headers already named are off the table: their probability 0 makes "none"
    # the better choice for an image that looks like one of them.
    return assign_views(
        [
            {v: (p if v in free else 0.0) for v, p in d.view_probabilities.items()}
            for d in detections
        ]
    )


def _readable_headers(paths: Sequence[Path]) -> list[Dataset]:
    """The headers of ``paths`` that can be read; an unreadable one is logged and left out, so
    that the "not analysed" report is still made."""
    headers = []
    for path in paths:
        try:
            headers.append(dcmread(path, stop_before_pixels=True))
        except Exception:
            logger.exception("unidentified image header unreadable", extra={"path": str(path)})
    return headers


def _identity(model: Any) -> ModelIdentity:
    """The classifier file's own account of itself (``cervi.*`` ONNX metadata)."""
    return ModelIdentity(
        name=model.name,
        version=model.version,
        sha256=model.sha256,
        demo="not for diagnostic" in model.intended_use.lower() or not model.intended_use,
    )


class Pipeline:
    """What the dispatcher runs for a study version: ``analyse`` or ``report_not_analysed``.

    ``destinations`` are the names of the configured senders (an outbox row each per object);
    ``on_queued`` wakes the delivery loop; ``key_image`` adds the Secondary Capture key image.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        files: InstanceStore,
        analyser: Analyser,
        destinations: Sequence[str],
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        key_image: bool = False,
    ) -> None:
        self.sessions = sessions
        self.files = files
        self.analyser = analyser
        self.destinations = tuple(destinations)
        self.on_queued = on_queued
        self.clock = clock
        self.key_image = key_image

    # -- the dispatcher's two entry points ------------------------------------------------

    def analyse(self, study_uid: str, version: int, partial: bool) -> None:
        """Analyse one dispatched version; whatever goes wrong ends in a recorded state."""
        logger.info("analysis requested", extra=_ids(study_uid, version) | {"partial": partial})
        try:
            self._analyse(study_uid, version)
        except Exception as exc:
            logger.exception("analysis failed", extra=_ids(study_uid, version))
            reason = f"analysis failed: {type(exc).__name__}"
            self._finish(study_uid, version, StudyState.FAILED, reason)

    def report_not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        """Make and queue the "not analysed" SR of a version assembly could not analyse."""
        logger.info("not-analysed report requested", extra=_ids(study_uid, version))
        try:
            self._report_not_analysed(study_uid, version, reason)
        except Exception as exc:
            logger.exception("not-analysed report failed", extra=_ids(study_uid, version))
            with transaction(self.sessions) as session:
                study = session.scalar(select(Study).where(Study.study_uid == study_uid))
                if study is not None and study.result_version == version:
                    study.state = StudyState.FAILED.value
                    study.state_reason = f"{reason}; report failed: {type(exc).__name__}"

    def _analyse(self, study_uid: str, version: int) -> None:
        started = time.perf_counter()
        with transaction(self.sessions) as session:
            if not assembly_repo.start_processing(session, study_uid, version, self.clock()):
                logger.info("version no longer current", extra=_ids(study_uid, version))
                return
            views, unknown = self._views(session, study_uid, version)
            if self._already_recorded(session, study_uid, version):
                return
        unknown = self._name_by_image(views, unknown)
        if not views:
            self._not_analysed(
                study_uid, version, {}, unknown, missing=VIEWS, reason="no view identified"
            )
            return
        try:
            datasets = {view: dcmread(path) for view, path in views.items()}
            prediction = self.analyser.predict(datasets)
        except UnreadableImage as exc:
            view = str(exc).split(":", 1)[0]
            self._not_analysed(
                study_uid, version, views, unknown, unreadable=[view], reason=f"unreadable {view}"
            )
            return
        latency_ms = 1000 * (time.perf_counter() - started)
        report = CerviImagingMeasurementReport(
            prediction,
            {view: datasets[view] for view in prediction.views_used},
            result_version=version,
            content_datetime=self.clock(),
            predecessor=self._predecessor(study_uid, version),
        )
        extras = []
        if self.key_image and "neutral" in prediction.regions:
            extras.append(
                CerviKeyImage(
                    prediction,
                    datasets["neutral"],
                    view="neutral",
                    result_version=version,
                    content_datetime=self.clock(),
                )
            )
        self._record(
            study_uid,
            version,
            report,
            prediction,
            datasets,
            latency_ms,
            outcome="analysed",
            extras=extras,
        )

    def _report_not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        with transaction(self.sessions) as session:
            # Assembly has already set the state (not_analysed); only the report is to make.
            study = session.scalar(select(Study).where(Study.study_uid == study_uid))
            if study is None or study.result_version != version:
                logger.info("version no longer current", extra=_ids(study_uid, version))
                return
            views, unknown = self._views(session, study_uid, version)
            if self._already_recorded(session, study_uid, version):
                return
        missing = [v for v in VIEWS if v not in views]
        self._not_analysed(study_uid, version, views, unknown, missing=missing, reason=reason)

    # -- steps ------------------------------------------------------------------------------

    def _views(
        self, session: Session, study_uid: str, version: int
    ) -> tuple[dict[str, Path], list[Path]]:
        """``({view: file}, [files of unknown view])`` that assembly chose for this version."""
        study = session.execute(select(Study).where(Study.study_uid == study_uid)).scalar_one()
        dispatch = assembly_repo.last_dispatch(session, study.id, version)
        chosen = dict(dispatch.views) if dispatch else {}
        unknown_uids = list(chosen.pop("unknown", []) or [])
        wanted = [uid for view, uid in chosen.items() if view in VIEWS] + unknown_uids
        rows = session.execute(
            select(Instance.sop_instance_uid, Instance.path).where(
                Instance.sop_instance_uid.in_(wanted)
            )
        ).all()
        paths = {uid: Path(path) for uid, path in rows}
        views = {view: paths[uid] for view, uid in chosen.items() if uid in paths}
        return views, [paths[uid] for uid in unknown_uids if uid in paths]

    def _name_by_image(self, views: dict[str, Path], unknown: list[Path]) -> list[Path]:
        """Images no header rule named fill the missing views when the image itself says which
        (DESIGN.md, "View identification"); the decision is recorded as rule ``image``. Returns
        the images still unnamed."""
        free = [v for v in VIEWS if v not in views]
        if not unknown or not free:
            return unknown
        try:
            named = self.analyser.name_views([dcmread(p) for p in unknown], free)
        except Exception:
            logger.exception("image-based view identification failed")
            return unknown
        left = []
        with transaction(self.sessions) as session:
            for path, view in zip(unknown, named, strict=True):
                if view is None:
                    left.append(path)
                    continue
                views[view] = path
                session.execute(
                    update(Instance)
                    .where(Instance.path == str(path))
                    .values(view=view, view_rule=IMAGE_RULE)
                )
        return left

    @staticmethod
    def _already_recorded(session: Session, study_uid: str, version: int) -> bool:
        """A result for this version exists (the process died before the state was written):
        finish the state from it instead of analysing again."""
        result = session.execute(
            select(Result)
            .join(Study, Study.id == Result.study_id)
            .where(Study.study_uid == study_uid, Result.version == version)
        ).scalar_one_or_none()
        if result is None:
            return False
        state = StudyState.ANALYSED if result.outcome == "analysed" else StudyState.NOT_ANALYSED
        assembly_repo.finish_version(session, study_uid, version, state, result.reason, utcnow())
        return True

    def _not_analysed(
        self,
        study_uid: str,
        version: int,
        views: Mapping[str, Path],
        unknown: Sequence[Path],
        *,
        reason: str,
        missing: Sequence[str] = (),
        unreadable: Sequence[str] = (),
    ) -> None:
        headers: dict[str, Dataset] = {}
        for view, path in views.items():
            try:
                headers[view] = dcmread(path, stop_before_pixels=True)
            except Exception:
                reason = f"{reason}; {view} header unreadable"
        unreadable = [view for view in unreadable if view in headers]
        report = CerviNotAnalysedReport(
            headers,
            self.analyser.identity,
            missing=missing,
            unreadable=unreadable,
            unidentified=_readable_headers(unknown),
            reason=reason,
            result_version=version,
            content_datetime=self.clock(),
            predecessor=self._predecessor(study_uid, version),
        )
        self._record(
            study_uid, version, report, None, headers, None, outcome="not_analysed", reason=reason
        )

    def _predecessor(self, study_uid: str, version: int) -> DocumentReference | None:
        with self.sessions() as session:
            path = session.execute(
                select(Result.sr_path)
                .join(Study, Study.id == Result.study_id)
                .where(
                    Study.study_uid == study_uid,
                    Result.version < version,
                    Result.sr_path.is_not(None),
                )
                .order_by(Result.version.desc())
                .limit(1)
            ).scalar_one_or_none()
        if path is None or not Path(path).is_file():
            return None
        return DocumentReference.of(dcmread(path, stop_before_pixels=True))

    def _record(
        self,
        study_uid: str,
        version: int,
        report: Dataset,
        prediction: StudyPrediction | None,
        headers: Mapping[str, Dataset],
        latency_ms: float | None,
        outcome: str,
        reason: str | None = None,
        extras: Sequence[Dataset] = (),
    ) -> None:
        """Store the SR (and ``extras``, e.g. the key image), write the result rows and queue
        every object for every destination, in one transaction."""
        stored = self._store(study_uid, report)
        outgoing = [(str(report.SOPInstanceUID), stored.path)]
        outgoing += [(str(ds.SOPInstanceUID), self._store(study_uid, ds).path) for ds in extras]
        identity = prediction.model if prediction else self.analyser.identity
        with transaction(self.sessions) as session:
            study = session.execute(select(Study).where(Study.study_uid == study_uid)).scalar_one()
            result = Result(
                study_id=study.id,
                version=version,
                outcome=outcome,
                reason=reason,
                model_name=identity.name,
                model_version=identity.version,
                model_sha256=identity.sha256,
                views_used=list(prediction.views_used if prediction else []),
                latency_ms=latency_ms,
                sr_sop_instance_uid=str(report.SOPInstanceUID),
                sr_path=str(stored.path),
                created_at=self.clock(),
            )
            session.add(result)
            session.flush()
            if prediction is not None:
                for label in prediction.labels:
                    session.add(
                        Finding(
                            result_id=result.id,
                            label=label.key,
                            probability=label.probability,
                            threshold=label.threshold,
                            present=label.present,
                        )
                    )
                for view, region in prediction.regions.items():
                    x0, y0, x1, y1 = region.box
                    session.add(
                        Region(
                            result_id=result.id,
                            sop_instance_uid=str(headers[view].SOPInstanceUID),
                            view=view,
                            x0=x0,
                            y0=y0,
                            x1=x1,
                            y1=y1,
                            landmarks={k: list(v) for k, v in region.landmarks.items()},
                        )
                    )
            for destination in self.destinations:
                for sop_uid, path in outgoing:
                    queue_delivery(session, result.id, destination, sop_uid, str(path))
            state = StudyState.ANALYSED if outcome == "analysed" else StudyState.NOT_ANALYSED
            assembly_repo.finish_version(session, study_uid, version, state, reason, self.clock())
        logger.info("study %s", outcome, extra=_ids(study_uid, version) | {"ms": latency_ms})
        if self.destinations:
            self.on_queued()

    def _store(self, study_uid: str, ds: Dataset) -> Any:
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return self.files.put(
            study_uid, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), buffer.getvalue()
        )

    def _finish(self, study_uid: str, version: int, state: StudyState, reason: str) -> None:
        with transaction(self.sessions) as session:
            assembly_repo.finish_version(session, study_uid, version, state, reason, self.clock())


def _ids(study_uid: str, version: int) -> dict[str, object]:
    return {"study_uid": study_uid, "version": version}
