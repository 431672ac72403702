"""Importance scores for heads and FFN neurons, and the calibration loss used to rank layers.

- "taylor" (heads; Michel et al. 2019): |dL/d gate| of a multiplicative gate on each head's output,
  summed over calibration batches, each layer's scores L2-normalised as in the paper.
- "magnitude": weight norms, no data needed. A head scores ||W_V,h|| * ||W_O,h|| (its value-output
  path), a neuron ||W_in row|| * ||W_out column||.
- "activation" (neurons): mean |activation| over real tokens times the output-column norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trimformer.compress import Calibration
from trimformer.errors import UserInputError
from trimformer.prune.families import FamilyAdapter, adapter_for
from trimformer.prune.gates import Gates, head_gates, neuron_gates

HEAD_METHODS = ("taylor", "magnitude")
FFN_METHODS = ("taylor", "activation", "magnitude")


def _batches(calib: Calibration | None, method: str, field: str = "importance") -> list[dict[str, torch.Tensor]]:
    if calib is None or not calib.batches:
        raise UserInputError(
            f"{field}='{method}' needs calibration batches; pass Calibration(batches=[...]) or use 'magnitude'"
        )
    return list(calib.batches)


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _model_inputs(batch: dict) -> dict:
    # Calibration batches may carry bookkeeping columns (example_id, teacher_*) the forward rejects.
    return {k: v for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")}


def batch_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    out = model(**_to_device(_model_inputs(batch), device))
    if getattr(out, "loss", None) is None:
        raise UserInputError(
            "calibration batches need 'labels' so the model returns a loss; add labels or use 'magnitude'"
        )
    return out.loss


@torch.no_grad()
def calibration_loss(model: nn.Module, calib: Calibration) -> float:
    was_training = model.training
    model.eval()
    losses = [float(batch_loss(model, b)) for b in _batches(calib, "calibration loss", "layer importance")]
    model.train(was_training)
    return sum(losses) / len(losses)


def _gate_gradients(model: nn.Module, gates: Gates, calib: Calibration, method: str) -> list[torch.Tensor]:
    was_training = model.training
    model.eval()  # no dropout: scores should not depend on the noise
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)  # only the gates need gradients; saves memory and time
    totals = [torch.zeros_like(v) for v in gates.values]
    gates.install()
    try:
        for batch in _batches(calib, method):
            for v in gates.values:
                v.grad = None
            batch_loss(model, batch).backward()
            totals = [t + g.abs() for t, g in zip(totals, gates.grads())]
    finally:
        gates.remove()
        for p in params:
            p.requires_grad_(True)
        model.train(was_training)
    return totals


def _normalise(scores: list[torch.Tensor]) -> list[torch.Tensor]:
    return [s / (s.norm() + 1e-20) for s in scores]


def _rows_norm(w: torch.Tensor, groups: int, dim: int) -> torch.Tensor:
    w = w.detach().float()
    if dim == 1:
        w = w.t()
    return w.reshape(groups, -1).norm(dim=1)


def head_importance(
    model: nn.Module,
    calib: Calibration | None = None,
    method: str = "taylor",
    normalize: bool = True,
    mask: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """One score per head per layer (higher = more important). `mask` (1 keep / 0 gone) holds
    already-masked heads at zero while scoring (gradual pruning)."""
    adapter = adapter_for(model)
    if method == "magnitude":
        scores = []
        for layer in adapter.layer_list(model):
            n = adapter.attention(layer).num_attention_heads
            v = _rows_norm(adapter.qkv(layer)[2].weight, n, 0)
            o = _rows_norm(adapter.out_proj(layer).weight, n, 1)
            scores.append(v * o)
    elif method == "taylor":
        gates = head_gates(model, adapter, requires_grad=True)
        _apply_mask(gates, mask)
        scores = _gate_gradients(model, gates, calib, method)
    else:
        raise UserInputError(
            f"importance='{method}' is not a head-importance method; use one of {', '.join(HEAD_METHODS)}"
        )
    scores = _normalise(scores) if normalize else scores
    return _masked_out(scores, mask)


def ffn_importance(
    model: nn.Module,
    calib: Calibration | None = None,
    method: str = "activation",
    mask: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """One score per FFN neuron per layer (higher = more important)."""
    adapter = adapter_for(model)
    layers = adapter.layer_list(model)
    out_norms = [adapter.ffn(layer)[1].weight.detach().float().norm(dim=0) for layer in layers]
    if method == "magnitude":
        scores = [adapter.ffn(layer)[0].weight.detach().float().norm(dim=1) * o for layer, o in zip(layers, out_norms)]
    elif method == "activation":
        scores = [a * o for a, o in zip(_mean_abs_activation(model, adapter, calib), out_norms)]
    elif method == "taylor":
        gates = neuron_gates(model, adapter, requires_grad=True)
        _apply_mask(gates, mask)
        scores = _gate_gradients(model, gates, calib, method)
    else:
        raise UserInputError(
            f"importance='{method}' is not an FFN-importance method; use one of {', '.join(FFN_METHODS)}"
        )
    return _masked_out(scores, mask)


@torch.no_grad()
def _mean_abs_activation(model: nn.Module, adapter: FamilyAdapter, calib: Calibration | None) -> list[torch.Tensor]:
    layers = adapter.layer_list(model)
    sums = [torch.zeros(adapter.ffn(layer)[0].out_features) for layer in layers]
    count = [0]
    current_mask: list[torch.Tensor | None] = [None]

    def hook(i: int):
        def pre(module: nn.Module, args: tuple) -> None:
            act = args[0].detach().float().abs()
            m = current_mask[0]
            if m is not None and m.shape == act.shape[:2]:
                act = act * m.unsqueeze(-1)  # ignore padding positions
            sums[i] += act.reshape(-1, act.shape[-1]).sum(0).cpu()

        return pre

    handles = [adapter.ffn(layer)[1].register_forward_pre_hook(hook(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        for batch in _batches(calib, "activation"):
            batch = _model_inputs(batch)
            att = batch.get("attention_mask")
            ids = batch.get("input_ids")
            current_mask[0] = att.float() if att is not None else None
            count[0] += int(att.sum()) if att is not None else int(ids.numel())
            model(**_to_device(batch, next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [s / max(count[0], 1) for s in sums]


def _apply_mask(gates: Gates, mask: Sequence[torch.Tensor] | None) -> None:
    if mask is None:
        return
    with torch.no_grad():
        for v, m in zip(gates.values, mask):
            v.copy_(m.to(v.dtype))


def _masked_out(scores: list[torch.Tensor], mask: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    if mask is None:
        return [s.float().cpu() for s in scores]
    return [torch.where(m.bool(), s.float().cpu(), torch.zeros_like(s.float().cpu())) for s, m in zip(scores, mask)]
