"""Small torch building blocks shared by the ROI network and CerviHFENet (training/export only)."""

from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    """Conv -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def standardise(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Per-image zero mean and unit variance over (C, H, W): exposure varies, anatomy matters."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return (x - mean) / (std + eps)


def soft_argmax(heatmaps: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) of each ``(N, K, H, W)`` heatmap, normalised so [0, 1] spans the map.

    Cell ``j`` has centre ``(j + 0.5) / W``; differentiable and exportable (softmax + matmul).
    """
    n, k, h, w = heatmaps.shape
    probs = torch.softmax(heatmaps.reshape(n, k, h * w), dim=-1).reshape(n, k, h, w)
    xs = (torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5) / w
    ys = (torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5) / h
    x = (probs.sum(dim=2) * xs).sum(dim=-1)
    y = (probs.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def coord_channels(x: torch.Tensor) -> torch.Tensor:
    """Append normalised x and y coordinate channels (CoordConv) so that positions can regress."""
    n, _, h, w = x.shape
    ys = (
        torch.linspace(0.0, 1.0, h, dtype=x.dtype, device=x.device)
        .view(1, 1, h, 1)
        .expand(n, 1, h, w)
    )
    xs = (
        torch.linspace(0.0, 1.0, w, dtype=x.dtype, device=x.device)
        .view(1, 1, 1, w)
        .expand(n, 1, h, w)
    )
    return torch.cat([x, xs, ys], dim=1)
