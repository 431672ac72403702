"""Distillation techniques: loss terms, layer maps, student initialisation, augmentation, logit cache.

Names import lazily, so a recipe stage can read `augment.DEFAULT_KINDS` without importing torch.
"""

from trimformer._lazy import lazy_exports

_EXPORTS = {
    "TeacherLogitCache": "teacher_cache",
    "attention_loss": "losses",
    "augment_texts": "augment",
    "build_layer_map": "layer_map",
    "hidden_state_loss": "losses",
    "kd_loss": "losses",
    "random_student": "student",
    "student_from_teacher_layers": "student",
    "task_loss": "losses",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
