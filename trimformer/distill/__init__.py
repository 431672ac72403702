"""Distillation techniques: loss terms, layer maps, student initialisation, augmentation, logit cache."""

from trimformer.distill.augment import augment_texts
from trimformer.distill.layer_map import build_layer_map
from trimformer.distill.losses import attention_loss, hidden_state_loss, kd_loss, task_loss
from trimformer.distill.student import random_student, student_from_teacher_layers
from trimformer.distill.teacher_cache import TeacherLogitCache

__all__ = [
    "TeacherLogitCache",
    "attention_loss",
    "augment_texts",
    "build_layer_map",
    "hidden_state_loss",
    "kd_loss",
    "random_student",
    "student_from_teacher_layers",
    "task_loss",
]
