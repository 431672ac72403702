"""`DistillationTrainer`: a `transformers.Trainer` that distils a teacher into a student.

Loss = alpha_task * task + alpha_kd * KD(T) + alpha_hidden * hidden + alpha_attention * attention
+ alpha_embedding * embedding (mean-pooled last layers, `trimformer.distill.embedding`), each term logged on
its own. Examples without a label (-100 / NaN) learn from the teacher only.
Technique configs passed as `compression=[...]` (head pruning, LoRA, ...) are applied to the
student before training, through the same registry the recipe stages use.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, Trainer, TrainerCallback

from trimformer.compress import Calibration, compress_
from trimformer.config import DistillationConfig
from trimformer.distill.cache_fill import fill_teacher_cache
from trimformer.distill.embedding import embedding_loss, mean_pooled
from trimformer.distill.layer_map import build_layer_map
from trimformer.distill.losses import (
    attention_loss,
    hidden_state_loss,
    kd_loss,
    logit_mse_loss,
    regression_kd_loss,
    task_loss,
)
from trimformer.distill.teacher_cache import TeacherLogitCache
from trimformer.errors import UserInputError
from trimformer.loading import resolve_path
from trimformer.nan_guard import check_loss_terms

TEACHER_PREFIX = "teacher_"


class HiddenProjector(nn.Module):
    """Learned maps from student width to teacher width, one per mapped layer (identity if equal); with
    `embedding` one more, last, for the sentence embeddings."""

    def __init__(self, student_width: int, teacher_width: int, count: int, embedding: bool = False):
        super().__init__()
        widths = [(student_width, teacher_width)] * (count + int(embedding))
        self.maps = nn.ModuleList([nn.Identity() if s == t else nn.Linear(s, t) for s, t in widths])

    def forward(self, states: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(s) for m, s in zip(self.maps, states)]


class HiddenProjectorState(TrainerCallback):
    """The hidden-state projector learns with the student but is not part of it. Trainer zeroes the model's
    gradients after each optimizer step, not the projector's: without this they would add up over the whole run.
    Each checkpoint holds the projector too, so a resumed run goes on with the projector its optimizer state
    belongs to."""

    FILE = "hidden_projector.safetensors"

    def __init__(self, projector: nn.Module):
        self.projector = projector

    def on_step_end(self, args, state, control, **kwargs):
        self.projector.zero_grad(set_to_none=True)
        return control

    def save_to_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.projector.state_dict().items()}
        save_file(state, str(folder / self.FILE))

    def restore_from_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import load_file

        if not (folder / self.FILE).is_file():
            raise UserInputError(
                f"{folder}: no {self.FILE} (an older trimformer wrote it), so hidden-state "
                "distillation cannot resume from it; rerun with --overwrite"
            )
        self.projector.load_state_dict(load_file(str(folder / self.FILE)))


class DistillationTrainer(Trainer):
    def __init__(
        self,
        model: nn.Module | str | None = None,
        teacher_model: nn.Module | str | None = None,
        args: DistillationConfig | None = None,
        compression: list[Any] | None = None,
        regression: bool | None = None,
        **kwargs: Any,
    ):
        if args is None:
            args = DistillationConfig(output_dir="trimformer-output")
        if not isinstance(args, DistillationConfig):
            raise TypeError("args must be a DistillationConfig (TrainingArguments plus the distillation settings)")
        # Our batches carry example_id and teacher_* columns the model's forward does not take.
        args.remove_unused_columns = False
        if isinstance(model, str):
            model = AutoModelForSequenceClassification.from_pretrained(resolve_path(model))
        if isinstance(teacher_model, str):
            teacher_model = AutoModelForSequenceClassification.from_pretrained(resolve_path(teacher_model))
        needs_teacher = (
            args.alpha_kd > 0 or args.alpha_hidden > 0 or args.alpha_attention > 0 or args.alpha_embedding > 0
        )
        if needs_teacher and teacher_model is None:
            raise ValueError(
                "teacher_model is required when alpha_kd, alpha_hidden, alpha_attention or alpha_embedding > 0"
            )
        if compression:
            model = self._compress(model, compression, kwargs)
        if args.alpha_attention > 0:
            # Attention probabilities are only returned by the eager implementation.
            for m in (model, teacher_model):
                m.set_attn_implementation("eager")
        super().__init__(model=model, args=args, **kwargs)
        # Our loss is a per-batch mean that ignores num_items_in_batch: let Trainer divide by the
        # accumulation steps itself, so 4x8 accumulated equals one batch of 32 (as TRL's GKD does).
        self.model_accepts_loss_kwargs = False
        self.regression = (
            regression if regression is not None else getattr(model.config, "problem_type", None) == "regression"
        )
        self.teacher = None
        if teacher_model is not None:
            self._refuse_sharded_teacher()
            if args.teacher_dtype:
                teacher_model = teacher_model.to(getattr(torch, args.teacher_dtype))
            teacher_model.requires_grad_(False)
            self.teacher = self.accelerator.prepare_model(teacher_model, evaluation_mode=True)
            self.teacher.eval()
            self._check_labels_agree(model, teacher_model)
        self.layer_pairs: list[tuple[int, int]] = []
        self.projector: nn.Module | None = None
        if args.alpha_hidden > 0 or args.alpha_attention > 0:  # attention transfer pairs layers by the same map
            s_cfg, t_cfg = model.config, teacher_model.config
            self.layer_pairs = build_layer_map(args.layer_map, s_cfg.num_hidden_layers, t_cfg.num_hidden_layers)
        if args.alpha_hidden > 0 or args.alpha_embedding > 0:
            widths = (model.config.hidden_size, teacher_model.config.hidden_size)
            count = len(self.layer_pairs) if args.alpha_hidden > 0 else 0
            projector = HiddenProjector(*widths, count, embedding=args.alpha_embedding > 0)
            self.projector = self.accelerator.prepare_model(projector.to(self.args.device))
            self.add_callback(HiddenProjectorState(self.accelerator.unwrap_model(self.projector)))
        if args.alpha_attention > 0 and model.config.num_attention_heads != teacher_model.config.num_attention_heads:
            raise ValueError(
                f"alpha_attention needs equal head counts (student {model.config.num_attention_heads}, teacher "
                f"{teacher_model.config.num_attention_heads}); set alpha_attention to 0"
            )
        self._terms: dict[str, list[float]] = defaultdict(list)
        self._cache: TeacherLogitCache | None = None
        self._samples_seen = 0  # training examples this process computed a loss on

    # -- setup helpers -------------------------------------------------------------------------
    def _compress(self, model: nn.Module, configs: list[Any], kwargs: dict) -> nn.Module:
        calibration = None
        dataset, collator = kwargs.get("train_dataset"), kwargs.get("data_collator")
        if dataset is not None and collator is not None:
            loader = DataLoader(dataset, batch_size=16, collate_fn=collator)
            batches = []
            for batch in loader:
                batches.append({k: v for k, v in batch.items() if k != "example_id" and not k.startswith("teacher_")})
                if len(batches) == 4:
                    break
            calibration = Calibration(batches=batches, tokenizer=kwargs.get("processing_class"))
        for config in configs:
            model = compress_(model, config, calibration)
        return model

    def _refuse_sharded_teacher(self) -> None:
        """The teacher is a forward-only replica on each device (evaluation_mode: never wrapped for training).
        ZeRO-3 shards every parameter, a replica would then hold none: refuse it in one line."""
        plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
        if self.is_deepspeed_enabled and plugin is not None and plugin.zero_stage == 3:
            raise UserInputError(
                "DeepSpeed ZeRO-3 shards the teacher's parameters, which trimformer runs as a plain replica; "
                "use recipes/accelerate/deepspeed-zero2.yaml or fsdp.yaml"
            )

    @staticmethod
    def _check_labels_agree(student: nn.Module, teacher: nn.Module) -> None:
        s, t = student.config, teacher.config
        if getattr(s, "num_labels", None) != getattr(t, "num_labels", None) and not hasattr(s, "vocab_size"):
            raise ValueError(f"student has {s.num_labels} labels, teacher {t.num_labels}: they must agree")
        s_names, t_names = getattr(s, "id2label", None), getattr(t, "id2label", None)
        generic = {i: f"LABEL_{i}" for i in range(getattr(t, "num_labels", 0))}
        if s_names and t_names and s_names != t_names and generic not in (s_names, t_names):
            raise ValueError(f"student labels {s_names} differ from the teacher's {t_names}: they must agree")

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        if self.projector is not None and any(p.requires_grad for p in self.projector.parameters()):
            optimizer.add_param_group({"params": list(self.projector.parameters()), "weight_decay": 0.0})
        return optimizer

    def train(self, *args: Any, **kwargs: Any):
        if (
            self.args.teacher_cache
            and self.teacher is not None
            and (self.args.alpha_kd > 0 or self.args.alpha_embedding > 0)
        ):
            self._cache = self._build_cache()
        checkpoint = kwargs.get("resume_from_checkpoint", args[0] if args else None)
        if isinstance(checkpoint, str):
            for callback in self._checkpoint_states():
                callback.restore_from_checkpoint(Path(checkpoint))
        return super().train(*args, **kwargs)

    # Callbacks with state a resumed run needs (early stopping's best weights, the hidden-state projector) write
    # it into each checkpoint folder and read it back on resume: `save_to_checkpoint` / `restore_from_checkpoint`.
    def _checkpoint_states(self) -> list[Any]:
        return [c for c in self.callback_handler.callbacks if hasattr(c, "restore_from_checkpoint")]

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        states = self._checkpoint_states()
        if states and self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)  # before Trainer marks the checkpoint complete
            for callback in states:
                callback.save_to_checkpoint(folder)
        super()._save_checkpoint(model, trial)

    def _build_cache(self) -> TeacherLogitCache:
        return fill_teacher_cache(self)

    def _task_name(self) -> str | None:
        task = getattr(getattr(self.data_collator, "task", None), "name", None)
        if task is None and self.teacher is not None:
            name = type(self.accelerator.unwrap_model(self.teacher)).__name__
            task = "masked-lm" if "MaskedLM" in name else "token-classification" if "TokenClass" in name else None
        return task

    # -- the loss ------------------------------------------------------------------------------
    def _split_inputs(self, inputs: dict) -> tuple[dict, dict]:
        student = {k: v for k, v in inputs.items() if not k.startswith(TEACHER_PREFIX)}
        teacher = {k[len(TEACHER_PREFIX) :]: v for k, v in inputs.items() if k.startswith(TEACHER_PREFIX)}
        return student, teacher

    @torch.no_grad()
    def _teacher_forward(self, batch: dict, want_hidden: bool, want_attn: bool, want_embedding: bool = False):
        """The teacher's outputs; with `want_embedding` they carry `embedding`, its mean-pooled last layer."""
        student_inputs, teacher_inputs = self._split_inputs(batch)
        feed = teacher_inputs or {k: v for k, v in student_inputs.items() if k not in ("labels", "example_id")}
        device = next(self.teacher.parameters()).device
        feed = {k: v.to(device) for k, v in feed.items()}
        kwargs = {}
        if want_hidden or want_embedding:
            kwargs["output_hidden_states"] = True
        if want_attn:
            kwargs["output_attentions"] = True
        out = self.teacher(**feed, **kwargs)
        if want_embedding:
            out["embedding"] = mean_pooled(out.hidden_states[-1], feed.get("attention_mask"))
        return out

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        example_ids = inputs.pop("example_id", None)
        student_inputs, _ = self._split_inputs(inputs)
        args = self.args
        training = model.training
        want_hidden = training and args.alpha_hidden > 0
        want_attn = training and args.alpha_attention > 0
        want_embedding = training and args.alpha_embedding > 0
        extra = {}
        if want_hidden or want_embedding:
            extra["output_hidden_states"] = True
        if want_attn:
            extra["output_attentions"] = True
        outputs = model(**student_inputs, **extra)
        logits = outputs.logits
        if training:
            self._samples_seen += int(logits.shape[0])
        terms: dict[str, torch.Tensor] = {}
        if labels is not None:
            terms["task"] = task_loss(logits, labels, self.regression)
        if not training:
            # Evaluation reports the task loss (and perplexity for MLM) of the student alone.
            loss = terms.get("task", logits.sum() * 0.0)
            return (loss, outputs) if return_outputs else loss
        if self.teacher is not None and (args.alpha_kd > 0 or want_hidden or want_attn or want_embedding):
            teacher_logits, teacher_out, teacher_embedding = None, None, None
            if self._cache is not None and example_ids is not None and not (want_hidden or want_attn):
                length = logits.shape[1] if logits.dim() == 3 else None
                rows = self._cache.lookup(example_ids, length).to(logits.device)
                # a row holds the logits, then (with alpha_embedding) the teacher's sentence embedding
                teacher_logits, teacher_embedding = rows[..., : logits.shape[-1]], rows[..., logits.shape[-1] :]
            else:
                teacher_out = self._teacher_forward(inputs, want_hidden, want_attn, want_embedding)
                teacher_logits, teacher_embedding = teacher_out.logits, teacher_out.get("embedding")
            if want_embedding:
                # fp32 (mean_pooled returns it): under bf16 autocast the states are bf16, the projection fp32
                mine = mean_pooled(outputs.hidden_states[-1], student_inputs.get("attention_mask"))
                terms["embedding"] = embedding_loss(self.projector.maps[-1](mine), teacher_embedding)
            if args.alpha_kd > 0:
                if self.regression:
                    terms["kd"] = regression_kd_loss(logits, teacher_logits)
                else:
                    mask = student_inputs.get("attention_mask") if logits.dim() == 3 else None
                    if args.kd_loss == "mse":
                        terms["kd"] = logit_mse_loss(logits, teacher_logits, mask)
                    else:
                        terms["kd"] = kd_loss(logits, teacher_logits, args.temperature, mask)
            mask = student_inputs.get("attention_mask")
            if want_hidden:
                s_states = [outputs.hidden_states[s] for s, _ in self.layer_pairs]
                t_states = [teacher_out.hidden_states[t] for _, t in self.layer_pairs]
                projected = self.projector(s_states)
                terms["hidden"] = torch.stack(
                    [hidden_state_loss(p, t, mask, args.hidden_loss) for p, t in zip(projected, t_states)]
                ).mean()
            if want_attn:
                pairs = [(s - 1, t - 1) for s, t in self.layer_pairs if s > 0 and t > 0]
                terms["attention"] = torch.stack(
                    [attention_loss(outputs.attentions[s], teacher_out.attentions[t], mask) for s, t in pairs]
                ).mean()
        weights = {"task": args.alpha_task, "kd": args.alpha_kd, "hidden": args.alpha_hidden}
        weights.update(attention=args.alpha_attention, embedding=args.alpha_embedding)
        loss = sum(weights[name] * value for name, value in terms.items() if weights[name] > 0)
        if not torch.is_tensor(loss):
            loss = logits.sum() * 0.0
        values = {name: value.detach().float().item() for name, value in terms.items()}
        check_loss_terms(self, values)  # a NaN/inf term ends the run here, naming the step and the term
        for name, value in values.items():
            self._terms[name].append(value)
        return (loss, outputs) if return_outputs else loss

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """A pruned, low-rank, quantized or adapted student is saved in trimformer's artefact format (its
        transform log, safetensors, strict reload with `trimformer.load_model`); a plain one as transformers
        saves it. Trainer's own checkpoints (`_internal_call`) keep Trainer's format, which resuming reads."""
        from trimformer.artefact.io import save_artefact
        from trimformer.artefact.log import get_log

        model = self.accelerator.unwrap_model(self.model)
        if _internal_call or get_log(model).empty:
            return super().save_model(output_dir, _internal_call)
        if self.args.should_save:
            save_artefact(model, self.processing_class, output_dir or self.args.output_dir)

    def training_summary(self) -> dict[str, Any]:
        """World size, optimizer steps and the examples each process (and all together) trained on."""
        local = torch.tensor([self._samples_seen], device=self.args.device)
        per_process = [int(v) for v in self.accelerator.gather(local).tolist()]
        return {
            "world_size": self.args.world_size,
            "optimizer_steps": self.state.global_step,
            "samples_seen": sum(per_process),
            "samples_per_process": per_process,
            "train_examples": len(self.train_dataset) if self.train_dataset is not None else None,
        }

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._terms and "loss" in logs:
            for name, values in self._terms.items():
                local = torch.tensor(sum(values) / len(values), device=self.args.device)
                logs[f"loss_{name}"] = round(self.accelerator.gather_for_metrics(local).mean().item(), 6)
            self._terms.clear()
        super().log(logs, *args, **kwargs)
