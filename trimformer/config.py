"""`DistillationConfig`: TrainingArguments plus the distillation loss settings (TRL's config pattern).

Each field carries `metadata={"help": ...}` so `HfArgumentParser` turns it into a CLI flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

HIDDEN_LOSSES = ("mse", "cosine")
KD_LOSSES = ("kl", "mse")
LOSS_WEIGHTS = ("alpha_task", "alpha_kd", "alpha_hidden", "alpha_attention", "alpha_embedding")


@dataclass
class DistillationConfig(TrainingArguments):
    alpha_task: float = field(default=0.5, metadata={"help": "Weight of the hard-label task loss."})
    alpha_kd: float = field(
        default=0.5, metadata={"help": "Weight of KL(student/T || teacher/T) * T^2 on the logits."}
    )
    temperature: float = field(default=2.0, metadata={"help": "Softmax temperature T for the KD term."})
    kd_loss: str = field(
        default="kl",
        metadata={"help": "KD term: kl (softened distributions, T) or mse (the raw logits, T unused)."},
    )
    alpha_hidden: float = field(default=0.0, metadata={"help": "Weight of the hidden-state loss."})
    hidden_loss: str = field(default="mse", metadata={"help": "Hidden-state loss: mse or cosine."})
    layer_map: Any = field(
        default="uniform",
        metadata={"help": "Student->teacher layer map: 'uniform', 'last-k', or explicit [[student, teacher], ...]."},
    )
    alpha_attention: float = field(
        default=0.0, metadata={"help": "Weight of attention-map transfer (needs equal head counts)."}
    )
    alpha_embedding: float = field(
        default=0.0,
        metadata={
            "help": "Weight of matching the student's sentence embedding (last layer, mean over real tokens, through "
            "a learned projection) to the teacher's: needs no shared tokenizer, and is cached with teacher_cache."
        },
    )
    teacher_dtype: str | None = field(
        default=None, metadata={"help": "dtype for the teacher, e.g. bfloat16 on GPU (default: as loaded)."}
    )
    teacher_cache: bool = field(
        default=False,
        metadata={
            "help": "Run the teacher once over the training set and reuse its logits (and, with alpha_embedding, "
            "its sentence embeddings) in later epochs."
        },
    )
    teacher_cache_dir: str | None = field(
        default=None, metadata={"help": "Where cached teacher logits are stored (default: OUTPUT/.teacher_cache)."}
    )

    def __post_init__(self) -> None:
        from trimformer.distributed import needs_cpu_backend

        if needs_cpu_backend():
            self.use_cpu = True  # gloo DDP: each process trains on its shard (see trimformer.distributed)
        if (self.bf16 or self.bf16_full_eval) and not self.use_cpu and not _accelerator_bf16():
            # a recipe's bf16 means CPU autocast where there is no bf16 accelerator (Trainer refuses otherwise)
            self.use_cpu = True
        super().__post_init__()
        for name in LOSS_WEIGHTS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (got {self.temperature})")
        if self.kd_loss not in KD_LOSSES:
            raise ValueError(f"kd_loss must be one of {', '.join(KD_LOSSES)} (got {self.kd_loss!r})")
        if self.hidden_loss not in HIDDEN_LOSSES:
            raise ValueError(f"hidden_loss must be one of {', '.join(HIDDEN_LOSSES)} (got {self.hidden_loss!r})")
        if self.teacher_cache and (self.alpha_hidden > 0 or self.alpha_attention > 0):
            raise ValueError(
                "teacher_cache stores logits only: set alpha_hidden and alpha_attention to 0, or teacher_cache false"
            )
        if sum(getattr(self, name) for name in LOSS_WEIGHTS) == 0:
            raise ValueError("all loss weights are 0: set at least one of alpha_task/alpha_kd/alpha_hidden/...")


def _accelerator_bf16() -> bool:
    """True where bf16 should run on an accelerator (an old GPU then gets Trainer's own error, not the CPU)."""
    from transformers.utils import is_torch_cuda_available, is_torch_xla_available

    return is_torch_cuda_available() or is_torch_xla_available()
