"""Multiplicative gates on attention heads and FFN neurons, and layer skipping, via forward hooks.

transformers 5 dropped `head_mask`, so we gate the input of the attention output projection (the
concatenated head contexts) and of the FFN output projection (the activated neurons). A gate of 0
is exactly what physical removal computes, which makes these the reference for parity tests; a
gate that requires grad gives Michel et al.'s (2019) head-importance gradient dL/d(gate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from trimformer.prune.families import FamilyAdapter, adapter_for


class Gates:
    """One gate vector per layer on the input of `modules[i]`, each gate repeated `group` times
    (group = head size for heads, 1 for neurons)."""

    def __init__(self, modules: Sequence[nn.Linear], sizes: Sequence[int], group: int, requires_grad: bool = False):
        self.modules = list(modules)
        self.group = group
        self.values = [torch.ones(n, requires_grad=requires_grad) for n in sizes]
        self._handles: list = []

    def _hook(self, i: int):
        def pre_hook(module: nn.Module, args: tuple) -> tuple:
            x = args[0]
            gate = self.values[i].to(device=x.device, dtype=x.dtype).repeat_interleave(self.group)
            return (x * gate, *args[1:])

        return pre_hook

    def install(self) -> Gates:
        self.remove()
        self._handles = [m.register_forward_pre_hook(self._hook(i)) for i, m in enumerate(self.modules)]
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def grads(self) -> list[torch.Tensor]:
        return [v.grad.detach().clone() if v.grad is not None else torch.zeros_like(v) for v in self.values]


def head_gates(model: nn.Module, adapter: FamilyAdapter | None = None, requires_grad: bool = False) -> Gates:
    adapter = adapter or adapter_for(model)
    layers = adapter.layer_list(model)
    return Gates(
        [adapter.out_proj(layer) for layer in layers],
        adapter.heads_per_layer(model),
        adapter.head_size(model),
        requires_grad,
    )


def neuron_gates(model: nn.Module, adapter: FamilyAdapter | None = None, requires_grad: bool = False) -> Gates:
    adapter = adapter or adapter_for(model)
    layers = adapter.layer_list(model)
    return Gates([adapter.ffn(layer)[1] for layer in layers], adapter.ffn_widths(model), 1, requires_grad)


def _skip_hook(module: nn.Module, args: tuple, kwargs: dict, output):
    # An identity layer: hand its input hidden states on unchanged.
    return args[0] if args else kwargs["hidden_states"]


@contextmanager
def masked(
    model: nn.Module,
    heads: dict[int, Sequence[int]] | None = None,
    neurons: dict[int, Sequence[int]] | None = None,
    layers: Sequence[int] = (),
) -> Iterator[nn.Module]:
    """Run `model` as if the given heads / FFN neurons were zeroed and the given layers skipped
    (the reference that physical pruning must match)."""
    adapter = adapter_for(model)
    installed: list[Gates] = []
    if heads:
        g = head_gates(model, adapter)
        for layer, idx in heads.items():
            g.values[layer][list(idx)] = 0.0
        installed.append(g.install())
    if neurons:
        g = neuron_gates(model, adapter)
        for layer, idx in neurons.items():
            g.values[layer][list(idx)] = 0.0
        installed.append(g.install())
    layer_list = adapter.layer_list(model)
    handles = [layer_list[i].register_forward_hook(_skip_hook, with_kwargs=True) for i in layers]
    try:
        yield model
    finally:
        for g in installed:
            g.remove()
        for h in handles:
            h.remove()
