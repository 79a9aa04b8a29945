"""Fixtures of the unit tier."""

from __future__ import annotations

import pytest
from pydicom import Dataset

from tests.support.results import study_images


@pytest.fixture
def images() -> dict[str, Dataset]:
    """Three small source images (extension, neutral, flexion) of one study."""
    return study_images()
