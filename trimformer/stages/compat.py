"""The stage-order compatibility table, generated from the stages' own effects.

    python -m trimformer.stages.compat          # prints the markdown table the README holds

A test checks the README holds exactly this output, so the documentation cannot drift from the order
checks `trimformer validate` runs.
"""

from __future__ import annotations

from trimformer.artefact.capabilities import Effect, compat_markdown
from trimformer.stages import get_stage
from trimformer.stages.base import StageConfig

# (stage type, settings): one representative of every kind of stage.
STAGES: list[tuple[str, dict]] = [
    ("distill", {}),
    ("finetune", {"target": "student"}),
    ("prune_heads", {}),
    ("prune_layers", {"strategy": "top", "count": 1}),
    ("prune_ffn", {}),
    ("prune_vocab", {}),
    ("lowrank", {}),
    ("lora", {}),
    ("lora", {"qlora": True}),
    ("merge", {}),
    ("quantize", {"method": "int8-cpu"}),
    ("quantize", {"method": "torch-ao-int8"}),
    ("quantize", {"method": "torchao-int8-dynamic"}),
    ("quantize", {"method": "embedding-int8"}),
    ("quantize", {"method": "bnb-8bit"}),
    ("quantize", {"method": "bnb-nf4"}),
]


def stage_configs() -> dict[str, tuple[str, StageConfig]]:
    """{kind: (stage type, config)} for every representative stage."""
    out = {}
    for stage_type, fields in STAGES:
        config = get_stage(stage_type).config_cls(**fields)
        out[config.kind(stage_type)] = (stage_type, config)
    return out


def effects(task: str = "sequence-classification") -> dict[str, Effect]:
    return {kind: config.effect(task) for kind, (_, config) in stage_configs().items()}


def table(task: str = "sequence-classification") -> str:
    return compat_markdown(effects(task))


if __name__ == "__main__":
    print(table(), end="")
