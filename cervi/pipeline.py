"""Analysis of a dispatched study version: views -> model -> result rows -> SR -> outbox.

:class:`Pipeline` is what the dispatcher runs (``analyse`` and ``report_not_analysed``). Every
path ends in a recorded state: ``analysed`` with its SR queued for delivery, ``not_analysed``
(missing or unreadable views, or a view the model's domain gate refused as unlike its training
data; also with an SR saying so), or ``failed`` with the reason. Only
the current version of a study is written as its state: a study re-opened by a late instance
keeps ``receiving`` (its result row is kept all the same). The model is
``inference.runtime.CerviRuntime`` (its :class:`~inference.result.StudyPrediction` goes straight
into the SR and the result rows); the database is reached through the repositories
``storage.studies``, ``storage.results`` and ``storage.deliveries``.
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
from sqlalchemy.orm import Session, sessionmaker

from cervi.settings import InferenceSettings
from dicom_node.sr import CerviImagingMeasurementReport, CerviNotAnalysedReport, DocumentReference
from dicom_node.sr.key_image import CerviKeyImage
from inference.result import (
    DOMAIN_REASON,
    VIEWS,
    DomainScore,
    ModelIdentity,
    StudyPrediction,
    UnreadableImage,
)
from storage import deliveries, results, studies
from storage.db import transaction
from storage.files import InstanceStore
from storage.states import NotAnalysedReason, StudyState
from storage.tables import utcnow

logger = logging.getLogger("cervi.pipeline")

IMAGE_RULE = "image"  # views named by the ROI network's view head, not by a header rule
# a result's outcome and the study state it leaves (docs/views.md, "When a study is analysed")
_OUTCOME_STATES = {"analysed": StudyState.ANALYSED, "not_analysed": StudyState.NOT_ANALYSED}


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
    first use or by :meth:`load` (``cervi serve`` calls it at start to fail fast); a classifier
    without a domain gate is refused."""

    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self._runtime: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._runtime is None:
                from inference.runtime import CerviRuntime, ModelFileError

                runtime = CerviRuntime(
                    self.settings.model, self.settings.roi_model, self.settings.threads
                )
                if runtime.domain is None:
                    # without its gate a model reports confident findings on any image
                    raise ModelFileError(
                        f"{self.settings.model}: no domain gate (cervi.domain); the service "
                        "analyses only with one: fit it with 'cervi evaluate --validation-of' "
                        "and export with --thresholds-from"
                    )
                self._runtime = runtime
            return self._runtime

    @property
    def identity(self) -> ModelIdentity:
        return self.load().model.identity

    @property
    def labels(self) -> tuple[str, ...]:
        """The label keys the model file declares."""
        return tuple(self.load().labels)

    def predict(self, datasets: Mapping[str, Dataset]) -> StudyPrediction:
        return self.load().analyse_datasets(datasets)

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
            failure = f"{reason}; report failed: {type(exc).__name__}"
            with transaction(self.sessions) as session:
                studies.fail_report(session, study_uid, version, failure, self.clock())

    def _analyse(self, study_uid: str, version: int) -> None:
        started = time.perf_counter()
        with transaction(self.sessions) as session:
            if not studies.start_processing(session, study_uid, version, self.clock()):
                logger.info("version no longer current", extra=_ids(study_uid, version))
                return
            views, unknown = self._views(session, study_uid, version)
            if self._already_recorded(session, study_uid, version):
                return
        unknown = self._name_by_image(views, unknown)
        if not views:
            self._not_analysed(
                study_uid,
                version,
                {},
                unknown,
                missing=VIEWS,
                reason="no view identified",
                code=NotAnalysedReason.NO_VIEW,
            )
            return
        try:
            datasets = {view: dcmread(path) for view, path in views.items()}
            prediction = self.analyser.predict(datasets)
        except UnreadableImage as exc:
            view = str(exc.view)
            self._not_analysed(
                study_uid,
                version,
                views,
                unknown,
                unreadable=[view],
                reason=f"unreadable {view}",
                code=NotAnalysedReason.UNREADABLE,
            )
            return
        if prediction.outside_domain:
            # a view unlike the training data: the model's labels mean nothing for this study
            refused = list(prediction.outside_domain)
            logger.info(
                "outside the model's training domain",
                extra=_ids(study_uid, version) | {"views": refused},
            )
            self._not_analysed(
                study_uid,
                version,
                views,
                unknown,
                outside_domain=refused,
                reason=f"{DOMAIN_REASON}: {', '.join(refused)}",
                code=NotAnalysedReason.OUTSIDE_DOMAIN,
                domain=prediction.domain,
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
            if studies.current_version(session, study_uid) != version:
                logger.info("version no longer current", extra=_ids(study_uid, version))
                return
            views, unknown = self._views(session, study_uid, version)
            if self._already_recorded(session, study_uid, version):
                return
        missing = [v for v in VIEWS if v not in views]
        self._not_analysed(
            study_uid,
            version,
            views,
            unknown,
            missing=missing,
            reason=reason,
            code=NotAnalysedReason.MISSING_VIEWS,
        )

    # -- steps ------------------------------------------------------------------------------

    @staticmethod
    def _views(
        session: Session, study_uid: str, version: int
    ) -> tuple[dict[str, Path], list[Path]]:
        """``({view: file}, [files of unknown view])`` that assembly chose for this version."""
        views, unknown = studies.dispatched_files(session, study_uid, version)
        return {view: Path(path) for view, path in views.items()}, [Path(p) for p in unknown]

    def _name_by_image(self, views: dict[str, Path], unknown: list[Path]) -> list[Path]:
        """Images no header rule named fill the missing views when the image itself says which
        (docs/views.md); the decision is recorded as rule ``image``. Returns
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
                studies.name_view(session, str(path), view, IMAGE_RULE)
        return left

    @staticmethod
    def _already_recorded(session: Session, study_uid: str, version: int) -> bool:
        """A result for this version exists (the process died before the state was written):
        finish the state from it instead of analysing again."""
        result = results.result_of(session, study_uid, version)
        if result is None:
            return False
        state = _OUTCOME_STATES[result.outcome]
        studies.finish_version(session, study_uid, version, state, result.reason, utcnow())
        return True

    def _not_analysed(
        self,
        study_uid: str,
        version: int,
        views: Mapping[str, Path],
        unknown: Sequence[Path],
        *,
        reason: str,
        code: NotAnalysedReason,
        missing: Sequence[str] = (),
        unreadable: Sequence[str] = (),
        outside_domain: Sequence[str] = (),
        domain: Mapping[str, DomainScore] | None = None,
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
            outside_domain=[view for view in outside_domain if view in headers],
            unidentified=_readable_headers(unknown),
            reason=reason,
            result_version=version,
            content_datetime=self.clock(),
            predecessor=self._predecessor(study_uid, version),
        )
        self._record(
            study_uid,
            version,
            report,
            None,
            headers,
            None,
            outcome="not_analysed",
            reason=reason,
            code=code,
            domain={v: score for v, score in (domain or {}).items() if v in headers},
        )

    def _predecessor(self, study_uid: str, version: int) -> DocumentReference | None:
        with self.sessions() as session:
            path = results.previous_sr_path(session, study_uid, version)
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
        code: NotAnalysedReason | None = None,
        domain: Mapping[str, DomainScore] | None = None,
    ) -> None:
        """Store the SR (and ``extras``, e.g. the key image), write the result rows and queue
        every object for every destination, in one transaction."""
        stored = self._store(study_uid, report)
        outgoing = [(str(report.SOPInstanceUID), stored.path)]
        outgoing += [(str(ds.SOPInstanceUID), self._store(study_uid, ds).path) for ds in extras]
        new = results.NewResult(
            version=version,
            outcome=outcome,
            reason=reason,
            model=prediction.model if prediction else self.analyser.identity,
            views_used=prediction.views_used if prediction else (),
            latency_ms=latency_ms,
            sr_sop_instance_uid=str(report.SOPInstanceUID),
            sr_path=str(stored.path),
            created_at=self.clock(),
            labels=prediction.labels if prediction else (),
            regions=prediction.regions if prediction else None,
            sources={view: str(ds.SOPInstanceUID) for view, ds in headers.items()},
            measurements=prediction.measurements if prediction else (),
            reason_code=code.value if code else None,
            domain=prediction.domain if prediction else domain,
        )
        with transaction(self.sessions) as session:
            result_id = results.add_result(session, study_uid, new)
            for destination in self.destinations:
                for sop_uid, path in outgoing:
                    deliveries.queue(session, result_id, destination, sop_uid, str(path))
            state = _OUTCOME_STATES[outcome]
            studies.finish_version(session, study_uid, version, state, reason, self.clock())
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
            studies.finish_version(session, study_uid, version, state, reason, self.clock())


def _ids(study_uid: str, version: int) -> dict[str, object]:
    return {"study_uid": study_uid, "version": version}
