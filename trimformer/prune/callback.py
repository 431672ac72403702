"""Gradual pruning during training (a `TrainerCallback`, works with `DistillationTrainer`).

At each scheduled step the callback masks more heads / FFN neurons (gates fixed at zero, so
parameter shapes, and therefore the optimizer, stay valid while training goes on); at the end of
training the masked units are removed physically and the config is updated.

    cb = GradualPruningCallback(HeadPruneConfig(scope="global"), schedule={100: 0.25, 200: 0.5},
                                calibration=Calibration(batches=[...]))
    trainer = DistillationTrainer(..., callbacks=[cb]); trainer.train()
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback

from trimformer.artefact import log as log_mod
from trimformer.compress import Calibration
from trimformer.errors import UserInputError
from trimformer.prune.ffn import FFNPruneConfig
from trimformer.prune.gates import Gates, head_gates, neuron_gates
from trimformer.prune.guards import check_prunable
from trimformer.prune.heads import HeadPruneConfig
from trimformer.prune.importance import ffn_importance, head_importance
from trimformer.prune.selection import select_prune
from trimformer.prune.shapes import config_changes
from trimformer.prune.surgery import keep_neurons, remove_heads


class GradualPruningCallback(TrainerCallback):
    """schedule: {global_step: cumulative fraction (or count) pruned by then}. The config's
    `importance`, `scope` and minimum-per-layer apply; its `amount` is replaced by the schedule."""

    def __init__(
        self,
        config: HeadPruneConfig | FFNPruneConfig,
        schedule: dict[int, float],
        calibration: Calibration | None = None,
        num_calibration_batches: int = 4,
    ):
        if not isinstance(config, (HeadPruneConfig, FFNPruneConfig)):
            raise UserInputError(
                f"config: GradualPruningCallback supports HeadPruneConfig or FFNPruneConfig, not {config}"
            )
        if not schedule:
            raise UserInputError("schedule: give {step: fraction}, e.g. {100: 0.25, 200: 0.5}")
        self.config = config
        self.schedule = dict(sorted((int(k), v) for k, v in schedule.items()))
        self.calibration = calibration
        self.num_calibration_batches = num_calibration_batches
        self.gates: Gates | None = None
        self.done: list[int] = []

    @property
    def is_heads(self) -> bool:
        return isinstance(self.config, HeadPruneConfig)

    def _ensure_gates(self, model: Any) -> Gates:
        if self.gates is None:
            adapter = check_prunable(model, "gradual pruning")
            make = head_gates if self.is_heads else neuron_gates
            self.gates = make(model, adapter).install()
        return self.gates

    def _calibration(self, train_dataloader: Any) -> Calibration | None:
        if self.calibration is not None or train_dataloader is None:
            return self.calibration
        batches = []
        for batch in train_dataloader:
            batches.append({k: v for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")})
            if len(batches) >= self.num_calibration_batches:
                break
        return Calibration(batches=batches)

    def prune_step(self, model: Any, amount: float, calibration: Calibration | None) -> None:
        """Mask units until `amount` of them are masked in total."""
        gates = self._ensure_gates(model)
        mask = [v.detach().clone() for v in gates.values]
        already = [torch.nonzero(m == 0).flatten().tolist() for m in mask]
        gates.remove()  # importance scoring installs its own gates, seeded with `mask`
        try:
            cfg = self.config
            if self.is_heads:
                scores = head_importance(model, calibration, cfg.importance, cfg.normalize, mask=mask)
                minimum, unit = cfg.min_heads_per_layer, "heads"
            else:
                scores = ffn_importance(model, calibration, cfg.importance, mask=mask)
                minimum, unit = cfg.min_neurons_per_layer, "neurons"
            # Already-masked units score 0; rank them out of the way by giving them -inf.
            scores = [torch.where(m.bool(), s, torch.full_like(s, -float("inf"))) for s, m in zip(scores, mask)]
            chosen = select_prune(scores, amount, cfg.scope, minimum, unit, "schedule", already=already)
        finally:
            gates.install()
        with torch.no_grad():
            for v, idx in zip(gates.values, chosen):
                v[idx] = 0.0

    def finalize(self, model: Any) -> None:
        """Remove the masked units for real."""
        if self.gates is None:
            return
        self.gates.remove()
        adapter = check_prunable(model, "gradual pruning")
        for layer, values in zip(adapter.layer_list(model), self.gates.values):
            gone = torch.nonzero(values == 0).flatten().tolist()
            if self.is_heads:
                remove_heads(layer, adapter, gone)
            elif gone:
                keep_neurons(layer, adapter, [j for j in range(len(values)) if j not in set(gone)])
        # The same log entry the one-shot technique writes, so the result saves and reloads like it.
        if self.is_heads:
            entry = {"kind": "prune_heads", "heads_per_layer": adapter.heads_per_layer(model)}
        else:
            entry = {"kind": "prune_ffn", "widths": adapter.ffn_widths(model)}
        entry["config"] = self.config.model_dump(mode="json")
        log_mod.append(model, entry, config_changes(model, adapter))
        self.gates = None

    # -- TrainerCallback hooks ---------------------------------------------------------------
    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        step = state.global_step
        if step in self.schedule and step not in self.done:
            self.prune_step(model, self.schedule[step], self._calibration(kwargs.get("train_dataloader")))
            self.done.append(step)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        self.finalize(model)
        return control
