"""Each loss term against a hand computation on a fixed batch."""

import math

import torch

from trimformer.distill.layer_map import build_layer_map
from trimformer.distill.losses import hidden_state_loss, kd_loss, task_loss


def test_kd_matches_hand_computation():
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    temperature = 2.0
    expected = 0.0
    for srow, trow in zip(s.tolist(), t.tolist()):
        zs = [math.exp(x / temperature) for x in srow]
        zt = [math.exp(x / temperature) for x in trow]
        ps = [z / sum(zs) for z in zs]
        pt = [z / sum(zt) for z in zt]
        expected += sum(p * math.log(p / q) for p, q in zip(pt, ps))
    expected = expected / 2 * temperature**2
    assert abs(kd_loss(s, t, temperature).item() - expected) < 1e-6


def test_kd_is_zero_for_identical_logits_and_respects_mask():
    logits = torch.randn(2, 5, 4)
    assert kd_loss(logits, logits.clone(), 3.0).item() < 1e-7
    other = logits.clone()
    other[:, 3:] += 5.0  # differences only in masked-out positions
    mask = torch.tensor([[1, 1, 1, 0, 0]] * 2)
    assert kd_loss(logits, other, 3.0, mask).item() < 1e-7


def test_hidden_loss_with_projection_matches_hand_computation():
    torch.manual_seed(0)
    student = torch.randn(2, 3, 4)
    teacher = torch.randn(2, 3, 6)
    proj = torch.nn.Linear(4, 6)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    projected = proj(student)
    rows = [(0, 0), (0, 1), (1, 0)]
    diffs = [(projected[b, i] - teacher[b, i]).pow(2).mean() for b, i in rows]
    expected = torch.stack(diffs).mean()
    got = hidden_state_loss(projected, teacher, mask, "mse")
    assert torch.allclose(got, expected, atol=1e-6)
    cos = [1 - torch.nn.functional.cosine_similarity(projected[b, i], teacher[b, i], dim=0) for b, i in rows]
    assert torch.allclose(hidden_state_loss(projected, teacher, mask, "cosine"), torch.stack(cos).mean(), atol=1e-6)


def test_task_loss_skips_unlabelled():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
    labels = torch.tensor([0, 1, -100])
    expected = torch.nn.functional.cross_entropy(logits[:2], labels[:2])
    assert torch.allclose(task_loss(logits, labels), expected)
    assert task_loss(logits, torch.full((3,), -100)).item() == 0.0


def test_layer_maps():
    assert build_layer_map("uniform", 3, 6) == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert build_layer_map("last-k", 2, 6) == [(0, 0), (1, 5), (2, 6)]
    assert build_layer_map([[1, 3]], 2, 6) == [(1, 3)]
