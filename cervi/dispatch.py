"""The one seam between study assembly and analysis: :class:`Dispatcher`.

Assembly calls it after its transaction has committed, once per result version (the database
guarantees that; see ``cervi.assembler``). ``cervi/bootstrap.py`` chooses the implementation:
:class:`InProcessDispatcher` runs the work on a local thread pool; a distributed worker queue
can replace it without touching the listener or the assembler.

Implementations must be idempotent per (study, version): after a crash, studies left ``ready``
are handed on again by reconciliation, with the same version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

logger = logging.getLogger("cervi.dispatch")

Analyse = Callable[[str, int, bool], None]
ReportNotAnalysed = Callable[[str, int, str], None]


class Dispatcher(Protocol):
    """Hands a study's result version on. Both calls must return quickly (no analysis inline)."""

    def dispatch(self, study_uid: str, version: int, partial: bool) -> None:
        """Analyse version ``version`` of the study; ``partial``: a required view is missing."""

    def not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        """Report version ``version`` as not analysed (e.g. "not analysed: missing flexion")."""


class InProcessDispatcher:
    """:class:`Dispatcher` on a thread pool in this process; exceptions are logged, not raised."""

    def __init__(
        self,
        analyse: Analyse,
        report_not_analysed: ReportNotAnalysed,
        workers: int = 1,
    ) -> None:
        self._analyse = analyse
        self._report = report_not_analysed
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cervi-analysis")

    def dispatch(self, study_uid: str, version: int, partial: bool) -> None:
        self._pool.submit(self._run, self._analyse, study_uid, version, partial)

    def not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        self._pool.submit(self._run, self._report, study_uid, version, reason)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; with ``wait``, finish what was handed on."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    @staticmethod
    def _run(work: Callable[..., None], study_uid: str, version: int, arg: object) -> None:
        try:
            work(study_uid, version, arg)
        except Exception:
            logger.exception("analysis failed", extra={"study_uid": study_uid, "version": version})
