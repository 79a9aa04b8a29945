"""inference.losses: focal term and relation penalties."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from inference.labels import LABELS, Relation  # noqa: E402
from inference.losses import RelationAwareFocalLoss  # noqa: E402

INSTABILITY = LABELS.index("atlantoaxial_instability")
DISLOCATION = LABELS.index("atlantoaxial_dislocation")


def test_gamma_zero_alpha_half_is_binary_cross_entropy() -> None:
    logits = torch.randn(8, 6)
    targets = (torch.rand(8, 6) > 0.5).float()
    loss = RelationAwareFocalLoss(relations=(), gamma=0.0, alpha=0.5)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-5)


def test_focal_down_weights_easy_examples() -> None:
    easy = torch.full((1, 6), 4.0)
    hard = torch.full((1, 6), 0.5)
    ones = torch.ones(1, 6)
    focal = RelationAwareFocalLoss(relations=(), gamma=2.0)
    bce = RelationAwareFocalLoss(relations=(), gamma=0.0)
    ratio_focal = focal(easy, ones) / focal(hard, ones)
    ratio_bce = bce(easy, ones) / bce(hard, ones)
    assert ratio_focal < ratio_bce / 5


def test_predicting_both_exclusive_labels_costs_more() -> None:
    targets = torch.zeros(1, 6)
    targets[0, INSTABILITY] = 1
    both = torch.full((1, 6), -5.0)
    both[0, INSTABILITY] = 3.0
    both[0, DISLOCATION] = 3.0
    one = both.clone()
    one[0, DISLOCATION] = -5.0
    loss = RelationAwareFocalLoss()
    assert loss.relation_penalty(both) > 0.8
    assert loss.relation_penalty(one) < 0.05
    plain = RelationAwareFocalLoss(relations=())
    assert loss(both, targets) - plain(both, targets) > 0.3


def test_implication_penalty_and_configuration() -> None:
    relation = Relation("implies", "atlas_assimilation", "basilar_invagination", 1.0)
    loss = RelationAwareFocalLoss(relations=(relation,))
    logits = torch.full((1, 6), -5.0)
    logits[0, LABELS.index("atlas_assimilation")] = 5.0
    violated = loss.relation_penalty(logits)
    logits[0, LABELS.index("basilar_invagination")] = 5.0
    assert violated > 0.9 and loss.relation_penalty(logits) < 0.01
    with pytest.raises(ValueError, match="names a label"):
        RelationAwareFocalLoss(relations=(Relation("exclusive", "a", "b", 1.0),))


def test_gradient_flows_from_penalty() -> None:
    logits = torch.zeros(4, 6, requires_grad=True)
    RelationAwareFocalLoss().relation_penalty(logits).backward()
    assert logits.grad is not None and logits.grad[:, INSTABILITY].abs().sum() > 0
