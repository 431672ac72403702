"""Every stage module registers itself on import (one line each)."""

from trimformer.stages.base import RunState, StageConfig, get_stage, register_stage, stage_names

from trimformer.stages import finetune  # noqa: E402,F401  isort: skip
from trimformer.stages import distill  # noqa: E402,F401  isort: skip
from trimformer.stages import prune  # noqa: E402,F401  isort: skip
from trimformer.stages import quant  # noqa: E402,F401  isort: skip

__all__ = ["RunState", "StageConfig", "get_stage", "register_stage", "stage_names"]
