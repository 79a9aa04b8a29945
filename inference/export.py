"""ONNX export of the trained networks, one file each, with the metadata the runtime and SR need.

Every file carries, as ONNX ``metadata_props`` (strings; JSON where structured): ``cervi.kind``
(``roi`` | ``classifier``), ``cervi.version``, ``cervi.labels`` and ``cervi.codes`` (coding scheme,
value, meaning), ``cervi.thresholds``, ``cervi.geometry`` (input spacing in mm and sizes),
``cervi.views``, ``cervi.landmarks``, ``cervi.recipe`` (the command that trained it),
``cervi.data_seed``, ``cervi.train_config``, ``cervi.metrics``, ``cervi.intended_use`` and, in the
classifier once fitted on the validation split, ``cervi.domain`` (the domain gate,
``inference.domain``). The classifier also outputs ``features``: each view's embedding (encoder
features and landmark geometry after the embedding layer, (N * 3, embed)), which the gate measures.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from inference.labels import (
    CODING_SCHEME,
    CROP_POINTS,
    LABEL_CODES,
    LANDMARKS,
    VIEWS,
    measurement_names,
    measurement_scales,
)
from inference.model import CerviHFENet
from inference.roi import Geometry
from inference.roi_net import RoiNet

OPSET = 17
INTENDED_USE = "Demo model trained on synthetic phantoms. Not for diagnostic use."


@dataclass
class ExportInfo:
    """What the exported files say about themselves besides the weights."""

    version: str
    geometry: Geometry
    labels: tuple[str, ...]
    thresholds: dict[str, float] = field(default_factory=dict)
    recipe: str = ""
    data_seed: int | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    domain: str | None = None  # the fitted gate's JSON (classifier only)

    def metadata(self, kind: str) -> dict[str, str]:
        codes = {
            k: {"scheme": CODING_SCHEME, "value": LABEL_CODES[k][0], "meaning": LABEL_CODES[k][1]}
            for k in self.labels
            if k in LABEL_CODES
        }
        extra = {"cervi.domain": self.domain} if kind == "classifier" and self.domain else {}
        return extra | {
            "cervi.kind": kind,
            "cervi.version": self.version,
            "cervi.labels": json.dumps(list(self.labels)),
            "cervi.codes": json.dumps(codes),
            "cervi.thresholds": json.dumps({k: self.thresholds.get(k, 0.5) for k in self.labels}),
            "cervi.geometry": self.geometry.to_json(),
            "cervi.views": json.dumps(list(VIEWS)),
            "cervi.landmarks": json.dumps(list(CROP_POINTS if kind == "classifier" else LANDMARKS)),
            "cervi.measurements": json.dumps(
                dict(zip(measurement_names(), measurement_scales(), strict=True))
            ),
            "cervi.recipe": self.recipe,
            "cervi.data_seed": "" if self.data_seed is None else str(self.data_seed),
            "cervi.train_config": json.dumps(self.train_config, default=str),
            "cervi.metrics": json.dumps(self.metrics, default=float),
            "cervi.intended_use": self.intended_use,
        }


class _WithProbabilities(nn.Module):
    """CerviHFENet plus a sigmoid output, so the runtime needs no post-processing."""

    def __init__(self, net: CerviHFENet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, views: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, landmarks, measurements = self.net(views, mask)
        return logits, torch.sigmoid(logits), landmarks, measurements


def export_classifier(net: CerviHFENet, path: Path, info: ExportInfo) -> Path:
    """Write CerviHFENet as ONNX: inputs ``views``, ``mask``; outputs ``logits``,
    ``probabilities``, ``landmarks``; the batch dimension is dynamic."""
    p = info.geometry.crop_px
    example = (torch.rand(2, len(VIEWS), 1, p, p), torch.ones(2, len(VIEWS)))
    _export(
        _WithProbabilities(net.eval()),
        example,
        path,
        inputs=["views", "mask"],
        outputs=["logits", "probabilities", "landmarks", "measurements"],
        metadata=info.metadata("classifier"),
    )
    model = onnx.load(str(path))
    expose_features(model)
    onnx.save(model, str(path))
    return path


def expose_features(model: onnx.ModelProto) -> None:
    """Add CerviHFENet's per-view embedding (``embed``: Linear and ReLU over the pooled encoder
    features and the landmark geometry) as the graph output ``features``, in place.

    The tensor is found by its structure: the ReLU after the Gemm whose input concatenates the
    encoder's mean- and max-pooled features. Doing this on the ONNX graph, not in torch, leaves
    the other outputs bit for bit those of the network as exported.
    """
    graph = model.graph
    if any(o.name == "features" for o in graph.output):
        return
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = None
    for node in graph.node:
        kinds = {producer[i].op_type for i in node.input if i in producer}
        if node.op_type == "Concat" and {"ReduceMean", "ReduceMax"} <= kinds:
            gemm = [c for c in consumers.get(node.output[0], []) if c.op_type == "Gemm"]
            relu = [c for n in gemm for c in consumers.get(n.output[0], []) if c.op_type == "Relu"]
            if len(relu) == 1:
                found = relu[0].output[0]
    if found is None:
        raise ValueError("the classifier graph has no embedding (Concat -> Gemm -> Relu) to expose")
    graph.node.append(onnx.helper.make_node("Identity", [found], ["features"], name="features"))
    graph.output.append(
        onnx.helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["views", None])
    )
    onnx.checker.check_model(model)


def set_domain(path: Path, domain: str, version: str | None = None) -> Path:
    """Write a fitted domain gate into an exported classifier file (exposing ``features`` if
    the file lacks it) and, if given, a new ``cervi.version``; the weights are untouched."""
    model = onnx.load(str(path))
    expose_features(model)
    entries = {e.key: e.value for e in model.metadata_props}
    entries["cervi.domain"] = domain
    if version is not None:
        entries["cervi.version"] = version
    del model.metadata_props[:]
    for key, value in entries.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export_roi(net: RoiNet, path: Path, info: ExportInfo) -> Path:
    """Write the ROI network as ONNX: input ``image``; outputs ``box``, ``landmarks``,
    ``view_logits``; the batch dimension is dynamic."""
    s = info.geometry.roi_input
    _export(
        net.eval(),
        (torch.rand(2, 1, s, s),),
        path,
        inputs=["image"],
        outputs=["box", "landmarks", "view_logits"],
        metadata=info.metadata("roi"),
    )
    return path


def _export(
    net: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    inputs: list[str],
    outputs: list[str],
    metadata: dict[str, str],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            net,
            example,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "cervi"
    model.doc_string = metadata.get("cervi.intended_use", "")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def parity(net: nn.Module, path: Path, inputs: dict[str, np.ndarray]) -> float:
    """Largest absolute difference between torch (eval) and onnxruntime on the same inputs.

    Torch runs its plain kernels here, not oneDNN's: those round differently enough that, behind
    a Platt scale of 3, model 0.4.0's logits moved by 7.6e-5 from a float64 run (onnxruntime's by
    3.7e-5), and a float32 rounding difference is not what this check is for.
    """
    from inference._onnxruntime import load_onnxruntime

    ort = load_onnxruntime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if o.name != "features"]  # not in torch's
    got = session.run(names, inputs)
    module = _WithProbabilities(net) if isinstance(net, CerviHFENet) else net
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # (its flags() context warns about Intel GPUs)
    try:
        with torch.no_grad():
            expected = module.eval()(*(torch.from_numpy(v) for v in inputs.values()))
    finally:
        torch.backends.mkldnn.enabled = onednn
    return max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(got, expected, strict=True))
