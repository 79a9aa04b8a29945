"""Relation-aware focal loss (the paper's modified focal loss, section "Loss function").

Binary focal loss per label (Lin et al. 2017) plus penalties on predicted probabilities that violate
the known relations between labels: mutual exclusivity (instability vs dislocation) and conditional
dependence (assimilation -> basilar invagination, ...). The relations and their weights are
configurable; with none the loss is the plain focal loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from inference.labels import DEFAULT_RELATIONS, LABELS, Relation


class RelationAwareFocalLoss(nn.Module):
    """``loss(logits, targets)`` for ``(N, L)`` logits and 0/1 targets.

    ``alpha`` weighs positives (``1 - alpha`` negatives); ``gamma`` focuses on hard examples;
    ``relation_weight`` scales every relation penalty.
    """

    def __init__(
        self,
        labels: Sequence[str] = LABELS,
        relations: Sequence[Relation] = DEFAULT_RELATIONS,
        alpha: float = 0.5,
        gamma: float = 2.0,
        relation_weight: float = 0.5,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError('Argument "alpha" must be in [0, 1].')
        if gamma < 0:
            raise ValueError('Argument "gamma" must be >= 0.')
        index = {name: i for i, name in enumerate(labels)}
        for relation in relations:
            if relation.a not in index or relation.b not in index:
                raise ValueError(f"relation {relation} names a label not in {list(labels)}")
        self.alpha = alpha
        self.gamma = gamma
        self.relation_weight = relation_weight
        self._exclusive = [
            (index[r.a], index[r.b], r.weight) for r in relations if r.kind == "exclusive"
        ]
        self._implies = [
            (index[r.a], index[r.b], r.weight) for r in relations if r.kind == "implies"
        ]

    def focal(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean binary focal loss over samples and labels."""
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p = torch.sigmoid(logits)
        p_true = p * targets + (1 - p) * (1 - targets)
        weight = self.alpha * targets + (1 - self.alpha) * (1 - targets)
        # x2 so that alpha=0.5, gamma=0 equals plain BCE
        return (2 * weight * (1 - p_true) ** self.gamma * bce).mean()

    def relation_penalty(self, logits: torch.Tensor) -> torch.Tensor:
        """Mean penalty of the predicted probabilities for violated relations."""
        p = torch.sigmoid(logits)
        penalty = logits.new_zeros(())
        for a, b, weight in self._exclusive:
            penalty = penalty + weight * (p[:, a] * p[:, b]).mean()
        for a, b, weight in self._implies:
            penalty = penalty + weight * (p[:, a] * (1 - p[:, b])).mean()
        return penalty

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        return self.focal(logits, targets) + self.relation_weight * self.relation_penalty(logits)
