"""Low-rank factorization: W (out x in) ~= U_r S_r V_r^T, run as two thinner Linears (in->r, r->out).

A rank-r pair costs r*(in+out) weights instead of in*out, so it only pays when r < in*out/(in+out).
Rank is chosen per layer by the share of squared singular values kept (`energy`) or by a parameter
budget (`target_compression`). Layers where factoring would not save parameters stay dense.
The artefact records `config.trimformer = {"kind": "lowrank", "ranks": {name: r}}`; the `lowrank`
loader rebuilds the thin layers from that before loading the weights.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trimformer.compress import Calibration, register_technique
from trimformer.loading import register_loader
from trimformer.quant._artefact import set_record
from trimformer.quant._state import build_empty, load_state_into

DEFAULT_TARGETS = [
    "*attention.self.query",
    "*attention.self.key",
    "*attention.self.value",
    "*attention.output.dense",
    "*intermediate.dense",
    "*output.dense",
]


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


@dataclass
class LowRankConfig:
    energy: float | None = 0.9  # keep the smallest rank whose singular values hold this share of ||W||^2
    target_compression: float | None = None  # or: factor every target to keep this fraction of its params
    targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))  # fnmatch on module names
    min_rank: int = 8

    def __post_init__(self) -> None:
        if (self.energy is None) == (self.target_compression is None):
            raise ValueError("LowRankConfig: set exactly one of energy (e.g. 0.9) or target_compression (e.g. 0.5)")
        if self.energy is not None and not 0 < self.energy <= 1:
            raise ValueError(f"LowRankConfig.energy={self.energy}: use a share in (0, 1]")
        if self.target_compression is not None and not 0 < self.target_compression <= 1:
            raise ValueError(f"LowRankConfig.target_compression={self.target_compression}: use a fraction in (0, 1]")


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
        if isinstance(m, nn.Linear) and any(fnmatch.fnmatchcase(n, p) for p in patterns)
    ]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def factorize_(
    model: nn.Module,
    cfg: LowRankConfig | None = None,
    ranks: dict[str, int] | None = None,
    keep_if_no_saving: bool = True,
) -> dict[str, int]:
    """Replace target Linears by LowRankLinear in place; returns {module name: rank} for those replaced.
    `ranks` forces explicit ranks (e.g. full rank in tests). Layers whose chosen rank would not save
    parameters stay dense unless `keep_if_no_saving=False`."""
    cfg = cfg or LowRankConfig()
    chosen: dict[str, int] = {}
    for name, linear in _targets(model, cfg.targets):
        if ranks is not None:
            if name not in ranks:
                continue
            rank = ranks[name]
        else:
            rank = choose_rank(linear.weight, cfg)
            if keep_if_no_saving and rank > break_even_rank(linear.in_features, linear.out_features):
                continue
        _set_module(model, name, LowRankLinear.from_linear(linear, rank))
        chosen[name] = rank
    existing = getattr(model.config, "trimformer", None) or {}
    if existing.get("kind") not in (None, "lowrank"):
        raise ValueError(f"lowrank: model already carries a '{existing['kind']}' artefact record; factor before it")
    all_ranks = {**existing.get("ranks", {}), **chosen}
    set_record(model.config, "lowrank", ranks=all_ranks)
    return chosen


@register_technique(LowRankConfig)
def _lowrank_technique(model: nn.Module, cfg: LowRankConfig, calibration: Calibration | None = None) -> nn.Module:
    factorize_(model, cfg)
    return model


@register_loader("lowrank")
def _load_lowrank(path: str, config: Any, model_cls: Any, **_: Any) -> nn.Module:
    model = build_empty(model_cls, config)
    for name, rank in config.trimformer["ranks"].items():
        linear = model.get_submodule(name)
        _set_module(model, name, LowRankLinear(linear.in_features, linear.out_features, rank, linear.bias is not None))
    load_state_into(model, path)
    return model.eval()
