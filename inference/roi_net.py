"""The ROI network: upper cervical region box, six landmarks and the view, from the whole image.

Input ``(N, 1, S, S)``: the preprocessed radiograph letterboxed to ``S`` (see ``inference.roi``).
Outputs, normalised to the square: ``box`` (N, 4) as x0, y0, x1, y1; ``landmarks`` (N, 6, 2) by
soft-argmax over heatmaps at S/4; ``view_logits`` (N, 3) in ``VIEWS`` order.
Training and export only (torch).
"""

from __future__ import annotations

import torch
from torch import nn

from inference._layers import conv_block, coord_channels, soft_argmax, standardise
from inference.labels import LANDMARKS, VIEWS


class RoiNet(nn.Module):
    """A small CNN: strided conv stages, a landmark heatmap head and a box/view head."""

    def __init__(self, width: int = 16, input_size: int = 128) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError('Argument "input_size" must be a multiple of 16.')
        self.input_size = input_size
        w = width
        self.stage1 = nn.Sequential(conv_block(3, w, 2, 5), conv_block(w, 2 * w))  # S/2
        self.stage2 = nn.Sequential(conv_block(2 * w, 2 * w, 2), conv_block(2 * w, 2 * w))  # S/4
        self.stage3 = nn.Sequential(conv_block(2 * w, 4 * w, 2), conv_block(4 * w, 4 * w))  # S/8
        self.stage4 = nn.Sequential(conv_block(4 * w, 4 * w, 2), conv_block(4 * w, 4 * w))  # S/16
        self.heatmap = nn.Sequential(
            conv_block(2 * w + 4 * w, 2 * w), nn.Conv2d(2 * w, len(LANDMARKS), 1)
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        cells = (input_size // 16) ** 2
        self.reduce = conv_block(4 * w, 16, kernel=1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * cells, 128), nn.ReLU(inplace=True), nn.Dropout(0.1)
        )
        self.box = nn.Linear(128, 4)
        self.view = nn.Linear(128, len(VIEWS))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = coord_channels(standardise(image))
        f2 = self.stage2(self.stage1(x))
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        heat = self.heatmap(torch.cat([f2, self.up(f3)], dim=1))
        landmarks = soft_argmax(heat)
        h = self.head(self.reduce(f4))
        box = torch.sigmoid(self.box(h))
        return box, landmarks, self.view(h)
