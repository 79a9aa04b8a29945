"""Parametric phantoms of dynamic lateral cervical spine radiographs with ground truth.

``generate_study`` builds one study in memory, ``write_study`` writes it as DICOM plus
``truth.json``, ``synthesize`` writes a whole data set on a small worker pool. See
docs/labels.md for what the labels mean and ``cervi synth --help`` for the files.
"""

from .labels import DEFAULT_PREVALENCE, LABEL_KEYS, labels_from_measurements, parse_prevalence
from .measure import LANDMARK_NAMES
from .study import SynthOptions, generate_study, write_study
from .styles import STYLE_NAMES, STYLES

__all__ = [
    "DEFAULT_PREVALENCE",
    "LABEL_KEYS",
    "LANDMARK_NAMES",
    "STYLES",
    "STYLE_NAMES",
    "SynthOptions",
    "generate_study",
    "labels_from_measurements",
    "parse_prevalence",
    "write_study",
]
