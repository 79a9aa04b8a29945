"""Argument checks of the Cervi SR builders (private to ``dicom_node.sr``): fail fast, naming
the argument, before any DICOM is built."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydicom import Dataset

from dicom_node import codes
from dicom_node.sr._document import DocumentReference
from inference.result import VIEWS, ModelIdentity, StudyPrediction

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_common(
    images: Any,
    model: Any,
    result_version: Any,
    content_datetime: Any,
    others: Any = (),
) -> str:
    """Fail fast, naming the argument, on what every result object takes (``others``: the
    not-analysed report's ``unidentified`` images). Returns the study's UID."""
    if isinstance(others, Dataset | str) or not isinstance(others, Sequence):
        raise TypeError('Argument "unidentified" must be a sequence of Dataset.')
    if not isinstance(images, Mapping) or not (images or others):
        raise TypeError('Argument "images" must be a non-empty mapping of view to Dataset.')
    named = [(f'"images" ("{view}")', view, image) for view, image in images.items()]
    named += [(f'"unidentified" (#{i})', None, image) for i, image in enumerate(others)]
    for where, view, image in named:
        if view is not None and view not in VIEWS:
            raise ValueError(f'Argument "images" has unknown view "{view}" (expected {VIEWS}).')
        if not isinstance(image, Dataset):
            raise TypeError(f"Argument {where} must be a Dataset.")
        for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            if keyword not in image:
                raise ValueError(f"Argument {where}: the image lacks {keyword}.")
    studies = {str(image.StudyInstanceUID) for _, _, image in named}
    if len(studies) != 1:
        raise ValueError('Argument "images" must all belong to one study.')
    if not isinstance(model, ModelIdentity):
        raise TypeError('Argument "model" must have type ModelIdentity.')
    if not _SHA256.match(model.sha256):
        raise ValueError('Argument "model" must carry a lowercase hex sha256 of 64 characters.')
    for field in ("name", "version"):
        value = getattr(model, field)
        if not isinstance(value, str) or not 0 < len(value) <= 64 or "\\" in value:
            raise ValueError(f'Argument "model" {field} must be 1 to 64 characters without "\\".')
    if isinstance(result_version, bool) or not isinstance(result_version, int):
        raise TypeError('Argument "result_version" must have type int.')
    if result_version < 1:
        raise ValueError('Argument "result_version" must be at least 1.')
    if not isinstance(content_datetime, datetime.datetime):
        raise TypeError('Argument "content_datetime" must have type datetime.datetime.')
    return studies.pop()


def check_predecessor(predecessor: Any, result_version: int, study_uid: str) -> None:
    """An SR version > 1 names its predecessor, in the same study; version 1 names none."""
    if predecessor is not None and not isinstance(predecessor, DocumentReference):
        raise TypeError('Argument "predecessor" must have type DocumentReference or be None.')
    if result_version == 1 and predecessor is not None:
        raise ValueError('Argument "predecessor" must be None for result version 1.')
    if result_version > 1 and predecessor is None:
        raise ValueError(f'Argument "predecessor" is required for result version {result_version}.')
    if predecessor is not None and predecessor.study_instance_uid != study_uid:
        raise ValueError('Argument "predecessor" must be in the same study as "images".')


def check_prediction(prediction: StudyPrediction, images: Mapping[str, Dataset]) -> None:
    keys = [lab.key for lab in prediction.labels]
    if not keys:
        raise ValueError('Argument "prediction" has no labels.')
    unknown = sorted(set(keys) - set(codes.LABELS))
    if unknown or len(set(keys)) != len(keys):
        raise ValueError(
            f'Argument "prediction" has unknown or repeated labels: {unknown or keys}.'
        )
    for lab in prediction.labels:
        if not (0.0 <= lab.probability <= 1.0 and 0.0 <= lab.threshold <= 1.0):
            raise ValueError(
                f'Argument "prediction": {lab.key} probability/threshold outside [0, 1].'
            )
    if not prediction.regions:
        raise ValueError('Argument "prediction" has no regions of interest.')
    if not prediction.views_used or not set(prediction.views_used) <= set(VIEWS):
        raise ValueError(f'Argument "prediction" must name the views it used, from {VIEWS}.')
    for view in (*prediction.views_used, *prediction.regions):
        if view not in images:
            raise ValueError(f'Argument "images" lacks the "{view}" view the prediction used.')
    for view, region in prediction.regions.items():
        x0, y0, x1, y1 = region.box
        image = images[view]
        if "Rows" not in image or "Columns" not in image:
            raise ValueError(f'Argument "images": the "{view}" image lacks Rows or Columns.')
        if region.view != view:
            raise ValueError(f'Argument "prediction": region under "{view}" says "{region.view}".')
        if not (0 <= x0 < x1 <= image.Columns and 0 <= y0 < y1 <= image.Rows):
            raise ValueError(
                f'Argument "prediction": the "{view}" box {region.box} is not inside the image.'
            )


def check_views(
    images: Mapping[str, Dataset], missing: Any, unreadable: Any, reason: Any, outside: Any = ()
) -> None:
    """The "not analysed" arguments: which views are missing, unreadable or outside the model's
    training domain, and why."""
    for name, views in (
        ("missing", missing),
        ("unreadable", unreadable),
        ("outside_domain", outside),
    ):
        if isinstance(views, str) or not all(v in VIEWS for v in views):
            raise ValueError(f'Argument "{name}" must be a sequence of views from {VIEWS}.')
    if set(missing) & set(images):
        raise ValueError('Argument "missing" names a view that is in "images".')
    if not set(unreadable) <= set(images):
        raise ValueError('Argument "unreadable" names a view that is not in "images".')
    if not set(outside) <= set(images) or set(outside) & set(unreadable):
        raise ValueError('Argument "outside_domain" must name readable views that are in "images".')
    if not missing and not unreadable and not outside:
        raise ValueError(
            'Arguments "missing", "unreadable" and "outside_domain" are all empty: nothing to '
            "report."
        )
    if reason is not None and not isinstance(reason, str):
        raise TypeError('Argument "reason" must have type str or be None.')
