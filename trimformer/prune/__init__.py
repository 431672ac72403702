"""Structured pruning that really shrinks the model: heads, layers, FFN neurons, vocabulary.

Each technique is a pydantic config (prune/config.py, no torch) and a transform registered with
`trimformer.artefact` when its module is imported, so `compress_(model, HeadPruneConfig(amount=0.5),
Calibration(...))` and `prune_heads_(model, cfg, calib)` do the same. Names below import lazily.
"""

from trimformer._lazy import lazy_exports

TECHNIQUE_MODULES = ("heads", "ffn", "layers", "vocab")
_EXPORTS = {
    "HeadPruneConfig": "config",
    "FFNPruneConfig": "config",
    "LayerDropConfig": "config",
    "VocabPruneConfig": "config",
    "HOW_TO_LOAD": "checkpoint",
    "load_pruned": "checkpoint",
    "save_pruned": "checkpoint",
    "GradualPruningCallback": "callback",
    "FamilyAdapter": "families",
    "adapter_for": "families",
    "register_family": "families",
    "supported_model_types": "families",
    "prune_ffn_": "ffn",
    "masked": "gates",
    "heads_to_prune": "heads",
    "prune_heads_": "heads",
    "calibration_loss": "importance",
    "ffn_importance": "importance",
    "head_importance": "importance",
    "drop_layers_": "layers",
    "layers_to_drop": "layers",
    "config_changes": "shapes",
    "current_shapes": "shapes",
    "prune_vocab": "vocab",
    "prune_vocab_": "vocab",
    "remap_input_ids": "vocab",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
