"""Write a whole phantom data set: studies ``0..n-1`` of a seed on at most two worker
processes, in any completion order but with identical bytes whatever the order."""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .labels import LABEL_KEYS
from .study import SynthOptions, generate_study, write_study

MAX_WORKERS = 2


def _one(task: tuple[int, int, SynthOptions, str]) -> dict:
    seed, index, options, out = task
    study = generate_study(seed, index, options)
    write_study(study, Path(out))
    return {"index": index, "labels": study.truth["labels"], "style": study.truth["style"]}


def synthesize(
    out: Path,
    studies: int,
    seed: int,
    options: SynthOptions | None = None,
    workers: int = MAX_WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Generate ``studies`` studies under ``out``; return (and write) a manifest."""
    options = options or SynthOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(seed, i, options, str(out)) for i in range(studies)]
    workers = max(1, min(workers, MAX_WORKERS, studies or 1))
    results = []
    if workers == 1:
        for done, task in enumerate(tasks, 1):
            results.append(_one(task))
            if progress:
                progress(done, studies)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, result in enumerate(pool.imap_unordered(_one, tasks), 1):
                results.append(result)
                if progress:
                    progress(done, studies)
    manifest = _manifest(seed, studies, options, results)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _manifest(seed: int, studies: int, options: SynthOptions, results: list[dict]) -> dict:
    positives = Counter(k for r in results for k, v in r["labels"].items() if v)
    return {
        "seed": seed,
        "studies": studies,
        "options": {**asdict(options), "styles": list(options.styles)},
        "positives": {k: positives.get(k, 0) for k in LABEL_KEYS},
        "styles": dict(Counter(r["style"] for r in results)),
    }
