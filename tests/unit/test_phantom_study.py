"""Phantom studies: determinism, truth.json layout and consistency with the pixels, image
format (size, spacing, photometric, bit depth), and no label leaking into the header."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.labels import MEASUREMENT_POINTS, VIEWS
from inference.phantom import LABEL_KEYS, LANDMARK_NAMES, SynthOptions, generate_study, write_study
from inference.phantom.acquisition import sample_acquisition
from inference.phantom.shapes import point_line_distance

SMALL = SynthOptions(scale=0.15)
LABEL_WORDS = ("instab", "disloc", "invagin", "odontoid", "assimil", "fusion", "fused", "block")


@pytest.fixture(scope="module")
def studies() -> list:
    return [generate_study(11, i, SMALL) for i in range(10)]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_study(generate_study(3, 4, SMALL), tmp_path / "a")
    b = write_study(generate_study(3, 4, SMALL), tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert len(names) == 4
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_other_seed_or_index_differs() -> None:
    base = generate_study(3, 4, SMALL)
    for other in (generate_study(4, 4, SMALL), generate_study(3, 5, SMALL)):
        assert other.truth["study_uid"] != base.truth["study_uid"]
        assert not np.array_equal(other.pixels["neutral"], base.pixels["neutral"])


def test_truth_layout(studies: list) -> None:
    for s in studies:
        t = s.truth
        assert set(t["labels"]) == set(LABEL_KEYS)
        assert set(t["labels"].values()) <= {0, 1}
        for view in VIEWS:
            assert set(t["landmarks"][view]) == set(LANDMARK_NAMES)
            # the classifier's measurement points, under the names the model uses
            assert tuple(t["points"][view]) == MEASUREMENT_POINTS
            x0, y0, x1, y1 = t["roi"][view]
            assert 0 <= x0 < x1 <= t["image"]["columns"] and 0 <= y0 < y1 <= t["image"]["rows"]
            assert t["files"][view] in s.files
        assert json.loads(json.dumps(t)) == t


def test_roi_holds_the_upper_cervical_landmarks(studies: list) -> None:
    for s in studies:
        for view in VIEWS:
            x0, y0, x1, y1 = s.truth["roi"][view]
            for name in ("c1_anterior_arch", "dens_tip", "posterior_dens", "basion", "opisthion"):
                x, y = s.truth["landmarks"][view][name]
                assert x0 <= x <= x1 and y0 <= y <= y1, (s.name, view, name)


def test_pixel_landmarks_reproduce_the_measurements(studies: list) -> None:
    """Chamberlain and the ADI change read off the pixel landmarks match truth (mm)."""
    for s in studies:
        t = s.truth
        mm = t["image"]["imager_pixel_spacing_mm"] / t["image"]["magnification"]
        lm = {v: {k: np.array(xy) for k, xy in t["landmarks"][v].items()} for v in VIEWS}
        n = lm["neutral"]
        # image rows grow downwards: the signed distance flips with the facing direction
        sign = 1.0 if t["image"]["face_left"] else -1.0
        above = sign * point_line_distance(n["dens_tip"], n["opisthion"], n["hard_palate"]) * mm
        assert above == pytest.approx(t["measurements"]["dens_above_chamberlain_mm"], abs=0.05)
        span = {
            v: np.linalg.norm(lm[v]["c1_anterior_arch"] - lm[v]["posterior_dens"]) * mm
            for v in VIEWS
        }
        change = span["flexion"] - span["extension"]
        assert change == pytest.approx(t["measurements"]["adi_change_mm"], abs=0.6)


def test_detector_format_over_many_draws() -> None:
    acqs = [sample_acquisition(np.random.default_rng([5, i])) for i in range(300)]
    assert all(1500 <= a.rows <= 2500 and 1500 <= a.cols <= 2500 for a in acqs)
    assert all(0.1 <= a.spacing <= 0.2 for a in acqs)
    assert {a.photometric for a in acqs} == {"MONOCHROME1", "MONOCHROME2"}
    assert {a.bits_stored for a in acqs} <= set(range(12, 17))
    assert len({a.bits_stored for a in acqs}) >= 3
    assert {a.face_left for a in acqs} == {True, False}


def test_pixels_fit_the_bit_depth_and_photometric(studies: list) -> None:
    seen = set()
    for s in studies:
        for ds in s.datasets:
            pixels = ds.pixel_array
            assert ds.BitsAllocated == 16 and ds.HighBit == ds.BitsStored - 1
            assert int(pixels.max()) < 2**ds.BitsStored
            assert pixels.std() > 0.05 * 2**ds.BitsStored  # an image, not a flat field
            seen.add(ds.PhotometricInterpretation)
            if ds.Modality == "DX":
                inverse = ds.PhotometricInterpretation == "MONOCHROME1"
                assert ds.PresentationLUTShape == ("INVERSE" if inverse else "IDENTITY")
    assert seen == {"MONOCHROME1", "MONOCHROME2"}


def test_bone_is_bright_on_display(studies: list) -> None:
    """Dens tip is brighter than the image's darkest decile once displayed (either polarity)."""
    for s in studies:
        ds = s.datasets[0]
        view = next(v for v, f in s.truth["files"].items() if f == s.files[0])
        shown = ds.pixel_array.astype(float)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            shown = shown.max() - shown
        x, y = (int(round(c)) for c in s.truth["landmarks"][view]["dens_tip"])
        patch = shown[max(0, y - 3) : y + 4, max(0, x - 6) : x + 1]
        assert patch.mean() > np.percentile(shown, 10)


def test_header_does_not_depend_on_labels() -> None:
    """Within a style, the set of attributes and the non-identifying values are label-blind."""
    keywords: dict[str, set] = {}
    for i in range(24):
        s = generate_study(21, i, SynthOptions(scale=0.1, styles=("dx_unnamed",)))
        for ds in s.datasets:
            keys = frozenset(e.keyword for e in ds)
            keywords.setdefault(keys, set()).add(tuple(s.truth["labels"].values()))
            text = " ".join(str(e.value) for e in ds if e.VR in ("LO", "SH", "LT", "ST", "CS"))
            assert not any(word in text.lower() for word in LABEL_WORDS)
    assert len(keywords) == 1


def test_upper_cervical_spine_lies_inside_the_collimated_field() -> None:
    """Positioning, rotation and collimation vary, but the ROI's anatomy stays in the field."""
    from inference.phantom.anatomy import sample_patient
    from inference.phantom.labels import DEFAULT_PREVALENCE
    from inference.phantom.measure import landmark_points
    from inference.phantom.pose import pose_patient
    from inference.phantom.render import camera_for

    for i in range(150):
        views = pose_patient(sample_patient(np.random.default_rng([41, i]), DEFAULT_PREVALENCE))
        acq = sample_acquisition(np.random.default_rng([42, i]))
        for v, view in enumerate(views):
            cam = camera_for(view, acq, acq.exposures[v])
            x0, y0, x1, y1 = cam.field(margin_mm=0.0)
            px = cam.to_pixels(np.array(list(landmark_points(view).values())))
            assert (px[:, 0] >= x0).all() and (px[:, 0] <= x1).all(), (i, view.view)
            assert (px[:, 1] >= y0).all() and (px[:, 1] <= y1).all(), (i, view.view)
