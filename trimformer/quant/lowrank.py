"""Low-rank factorization: W (out x in) ~= U_r S_r V_r^T, run as two thinner Linears (in->r, r->out).

A rank-r pair costs r*(in+out) weights instead of in*out, so it only pays when r < in*out/(in+out).
Rank is chosen per layer by the share of squared singular values kept (`energy`) or by a parameter
budget (`target_compression`). Layers where factoring would not save parameters stay dense.
The transform log records `{"kind": "lowrank", "ranks": {name: r}}`; loading rebuilds the thin layers.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn

from trimformer.artefact.log import get_log
from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import LowRankConfig


class LowRankLinear(nn.Module):
    """`up(down(x))`: down has no bias (in->rank), up carries the original bias (rank->out)."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int) -> LowRankLinear:
        w = linear.weight.detach().float()
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        root = s[:rank].sqrt()  # split S evenly so both factors have similar scale
        out = cls(linear.in_features, linear.out_features, rank, linear.bias is not None)
        out.down.weight.data.copy_(root[:, None] * vh[:rank])
        out.up.weight.data.copy_(u[:, :rank] * root[None, :])
        if linear.bias is not None:
            out.up.bias.data.copy_(linear.bias.detach())
        return out.to(linear.weight.dtype).to(linear.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


def break_even_rank(in_features: int, out_features: int) -> int:
    """Largest rank at which the factored pair has fewer weights than the dense layer."""
    return (in_features * out_features - 1) // (in_features + out_features)


def choose_rank(weight: torch.Tensor, cfg: LowRankConfig) -> int:
    out_f, in_f = weight.shape
    full = min(out_f, in_f)
    if cfg.target_compression is not None:
        rank = int(cfg.target_compression * in_f * out_f / (in_f + out_f))
    elif cfg.energy >= 1.0:
        rank = full  # all the energy: no threshold can be met early by rounding
    else:
        energy = torch.linalg.svdvals(weight.detach().float()).pow(2)
        cumulative = energy.cumsum(0) / energy.sum()
        rank = int(torch.searchsorted(cumulative, torch.tensor(cfg.energy * (1 - 1e-6))).item()) + 1
    return max(1, min(full, max(rank, min(cfg.min_rank, full))))


def _targets(model: nn.Module, patterns: list[str]) -> list[tuple[str, nn.Linear]]:
    return [
        (n, m)
        for n, m in model.named_modules()
        if type(m) is nn.Linear and any(fnmatch.fnmatchcase(n, p) for p in patterns)
    ]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def plan_ranks(model: nn.Module, cfg: LowRankConfig) -> dict[str, int]:
    """{module name: rank} that `cfg` would factor, without changing the model."""
    if cfg.ranks is not None:
        return dict(cfg.ranks)
    chosen = {}
    for name, linear in _targets(model, cfg.targets):
        rank = choose_rank(linear.weight, cfg)
        if cfg.keep_if_no_saving and rank > break_even_rank(linear.in_features, linear.out_features):
            continue
        chosen[name] = rank
    return chosen


def factorize_(
    model: nn.Module,
    cfg: LowRankConfig | None = None,
    ranks: dict[str, int] | None = None,
    keep_if_no_saving: bool = True,
) -> dict[str, int]:
    """Replace target Linears by LowRankLinear in place; returns {module name: rank} for those replaced.
    `ranks` forces explicit ranks (e.g. full rank in tests). Layers whose chosen rank would not save
    parameters stay dense unless `keep_if_no_saving=False`."""
    cfg = (cfg or LowRankConfig()).model_copy(update={"keep_if_no_saving": keep_if_no_saving})
    if ranks is not None:
        cfg = cfg.model_copy(update={"ranks": dict(ranks)})
    compress_(model, cfg)
    return dict(get_log(model).transforms[-1]["ranks"])


def _apply(model: nn.Module, cfg: LowRankConfig, calib: Calibration | None):
    ranks = plan_ranks(model, cfg)
    linears = dict(_targets(model, list(ranks)))
    unknown = sorted(set(ranks) - set(linears))
    if unknown:  # checked before any module is swapped: an error never leaves a half-changed model
        raise UserInputError(f"lowrank: {unknown[:3]} are not dense Linear layers of this model")
    for name, rank in ranks.items():
        _set_module(model, name, LowRankLinear.from_linear(linears[name], rank))
    return model, {"ranks": ranks}, {}


def rebuild_lowrank(model: nn.Module, entry: dict[str, Any]) -> nn.Module:
    for name, rank in entry["ranks"].items():
        linear = model.get_submodule(name)
        _set_module(model, name, LowRankLinear(linear.in_features, linear.out_features, rank, linear.bias is not None))
    return model


register_transform(TransformSpec("lowrank", LowRankConfig, _apply, rebuild_lowrank))
