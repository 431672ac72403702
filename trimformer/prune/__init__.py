"""Structured pruning that really shrinks the model: heads, layers, FFN neurons, vocabulary.

Each technique is a dataclass config registered with `trimformer.compress.register_technique`, so
`compress_(model, HeadPruneConfig(amount=0.5), Calibration(...))` and `prune_heads_(model, cfg, calib)`
do the same. Importing this package also registers the "pruned" checkpoint loader.
"""

from trimformer.prune.callback import GradualPruningCallback
from trimformer.prune.checkpoint import HOW_TO_LOAD, load_pruned, save_pruned
from trimformer.prune.families import FamilyAdapter, adapter_for, register_family, supported_model_types
from trimformer.prune.ffn import FFNPruneConfig, prune_ffn_
from trimformer.prune.gates import masked
from trimformer.prune.heads import HeadPruneConfig, heads_to_prune, prune_heads_
from trimformer.prune.importance import calibration_loss, ffn_importance, head_importance
from trimformer.prune.layers import LayerDropConfig, drop_layers_, layers_to_drop
from trimformer.prune.shapes import apply_shapes, current_shapes, record_shapes
from trimformer.prune.vocab import VocabPruneConfig, prune_vocab, prune_vocab_, remap_input_ids

__all__ = [
    "HOW_TO_LOAD",
    "FFNPruneConfig",
    "FamilyAdapter",
    "GradualPruningCallback",
    "HeadPruneConfig",
    "LayerDropConfig",
    "VocabPruneConfig",
    "adapter_for",
    "apply_shapes",
    "calibration_loss",
    "current_shapes",
    "drop_layers_",
    "ffn_importance",
    "head_importance",
    "heads_to_prune",
    "layers_to_drop",
    "load_pruned",
    "masked",
    "prune_ffn_",
    "prune_heads_",
    "prune_vocab",
    "prune_vocab_",
    "record_shapes",
    "register_family",
    "remap_input_ids",
    "save_pruned",
    "supported_model_types",
]
