"""ONNX Runtime dynamic int8: the default CPU deployment path (`int8-cpu`).

Measured here (MiniLM 3 layers, batch 32 x 64, 2 threads): ORT int8 ~2.9x faster than PyTorch fp32 with
no compile step, and quantizing the Gather (embedding) weights too makes the file ~4x smaller; torchao
int8 was slower eagerly and needed ~40 s of torch.compile to reach ~2.2x. The artefact is a folder with
`model.onnx` + config.json + tokenizer, loaded by `trimformer.loading.load_model` into `OrtModel`, which
answers the same call as a transformers model, so evaluation code runs it unchanged.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trimformer.artefact import log as log_mod
from trimformer.artefact.registry import TransformSpec, register_transform
from trimformer.compress import Calibration, compress_
from trimformer.errors import UserInputError
from trimformer.quant.config import OnnxInt8Config

ONNX_FILE = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class _FromOnnxRuntime(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname or record.levelno >= logging.ERROR


@contextmanager
def _quiet_onnxruntime():
    """onnxruntime's quantizer logs a pre-processing nag through the root logger: drop its records below
    ERROR for the duration of the call only (the root logger's level and other records stay untouched)."""
    root, only = logging.getLogger(), _FromOnnxRuntime()
    root.addFilter(only)
    try:
        yield
    finally:
        root.removeFilter(only)


@contextmanager
def _quiet_tracer():
    """The tracer warns about every Python branch and shape-to-int conversion in transformers' forward (both are
    fixed by the dynamic axes and checked by the reload test), and the exporter warns that advanced indexing
    breaks on negative indices (ours are position/token ids, never negative). Only for the export call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced indexing")
        yield


class _LogitsOnly(nn.Module):
    """Fixes the positional order of inputs for the exporter and returns a plain logits tensor."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, args))).logits


def _input_names(model: nn.Module) -> tuple[str, ...]:
    params = inspect.signature(model.forward).parameters
    return tuple(n for n in INPUT_NAMES if n in params)


def export_onnx_int8(model: nn.Module, out_dir: str | Path, cfg: OnnxInt8Config | None = None) -> Path:
    """Export a float model to ONNX and write its dynamically int8-quantized graph to `out_dir/model.onnx`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cfg = cfg or OnnxInt8Config()
    if any(not p.is_floating_point() for p in model.parameters()) or getattr(model, "hf_quantizer", None):
        raise UserInputError("onnx-int8: export needs a float model; put the quantize stage before other quantizers")
    if getattr(model, "peft_config", None) is not None:
        raise UserInputError("onnx-int8: the model has LoRA adapters; merge them first")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = _input_names(model)
    # A padded row in the example batch: transformers skips the attention mask when it is all ones, and
    # the tracer would bake that shortcut in, so padded batches would then be attended as if unpadded.
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    example = {"input_ids": torch.full((2, 8), 5, dtype=torch.long), "attention_mask": mask}
    example["token_type_ids"] = torch.zeros(2, 8, dtype=torch.long)
    dummy = tuple(example[n] for n in names)
    float_model = copy.deepcopy(model).float().cpu().eval()  # never convert the caller's model in place
    with torch.no_grad():
        logits_rank = float_model(**dict(zip(names, dummy))).logits.dim()
    logits_axes = {0: "batch", 1: "sequence"} if logits_rank == 3 else {0: "batch"}
    with tempfile.TemporaryDirectory(prefix="trimformer-onnx-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        # The TorchScript exporter (dynamo=False): the dynamo one needs onnxscript, which we do not depend on.
        with _quiet_tracer():
            torch.onnx.export(
                _LogitsOnly(float_model, names),
                dummy,
                str(fp32),
                input_names=list(names),
                output_names=["logits"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names} | {"logits": logits_axes},
                opset_version=cfg.opset,
                dynamo=False,
            )
        ops = ["MatMul", "Gather"] if cfg.quantize_embeddings else ["MatMul"]
        with _quiet_onnxruntime():
            quantize_dynamic(
                str(fp32),
                str(out_dir / ONNX_FILE),
                op_types_to_quantize=ops,
                per_channel=cfg.per_channel,
                weight_type=QuantType.QInt8,
            )
    return out_dir / ONNX_FILE


class OrtModel(nn.Module):
    """An onnxruntime session behind a transformers-style call: `model(**batch).logits` (and `.loss` with labels),
    with the output class of the exported head (sequence / token classification, masked LM). It has no torch
    parameters; it cannot be trained, only run. `num_threads` pins intra-op threads (inter-op 1), so it can be
    timed on the same cores as the torch models it is compared with."""

    def __init__(self, path: str | Path, config: Any, num_threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        self.path, self.config = Path(path), config
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads, options.inter_op_num_threads = num_threads, 1
        # ORT's worker threads spin-wait after each call by default: on a small machine that steals the cores from
        # whatever runs next (the next model of an interleaved timing pass, or the caller's own torch code).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.num_threads = num_threads
        self.session = ort.InferenceSession(str(self.path / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, *args: Any, **kwargs: Any) -> OrtModel:  # CPU only: moving is a no-op
        return self

    def _output_class(self) -> Any:
        from transformers import modeling_outputs as outputs

        arch = (getattr(self.config, "architectures", None) or [""])[0]
        if arch.endswith("ForTokenClassification"):
            return outputs.TokenClassifierOutput
        if arch.endswith("ForMaskedLM"):
            return outputs.MaskedLMOutput
        return outputs.SequenceClassifierOutput

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, **kwargs}
        if given.get("attention_mask") is None:
            given["attention_mask"] = torch.ones_like(input_ids)
        if "token_type_ids" in self.input_names and given.get("token_type_ids") is None:
            given["token_type_ids"] = torch.zeros_like(input_ids)
        feed = {n: given[n].detach().cpu().long().numpy() for n in self.input_names}
        logits = torch.from_numpy(self.session.run(["logits"], feed)[0])
        loss = None
        if labels is not None:
            labels = labels.cpu()
            if logits.shape[-1] == 1 and labels.is_floating_point():  # regression head
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.float())
            else:
                loss = nn.functional.cross_entropy(
                    logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100
                )
        return self._output_class()(loss=loss, logits=logits)

    def save_pretrained(self, out_dir: str | Path, **_: Any) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if (out_dir / ONNX_FILE).resolve() != (self.path / ONNX_FILE).resolve():
            shutil.copy2(self.path / ONNX_FILE, out_dir / ONNX_FILE)
        self.config.save_pretrained(out_dir)
        data = json.loads((out_dir / "config.json").read_text())
        data[log_mod.KEY] = log_mod.get_log(self.config).to_dict()
        data["transformers_weights"] = _guard()  # plain from_pretrained stops with a sentence naming trimformer
        (out_dir / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _guard() -> str:
    from trimformer.artefact.io import GUARD

    return GUARD


def _apply(model: nn.Module, cfg: OnnxInt8Config, calib: Calibration | None):
    """Export + quantize into a private temp folder; the runnable `OrtModel` carries a copy of the config
    (with the log so far), so the caller's model is left as it was."""
    tmp = tempfile.TemporaryDirectory(prefix="trimformer-ort-")
    export_onnx_int8(model, tmp.name, cfg)
    config = copy.deepcopy(model.config)
    config.architectures = [type(model).__name__]
    ort_model = OrtModel(tmp.name, config, cfg.num_threads)
    ort_model._tmp = tmp  # keep the folder alive as long as the model
    entry = {"runtime": "onnxruntime", "compiled": False}
    return ort_model, entry, {}


def _save(model: OrtModel, out_dir: Path) -> None:
    model.save_pretrained(out_dir)


def _load(path: Path, config: Any, num_threads: int | None = None, **_: Any) -> OrtModel:
    return OrtModel(path, config, num_threads)


def quantize_onnx_int8(model: nn.Module, cfg: OnnxInt8Config | None = None) -> OrtModel:
    """Export + quantize; returns the runnable `OrtModel` (its `save_pretrained` copies the graph)."""
    return compress_(model, cfg or OnnxInt8Config())


register_transform(TransformSpec("onnx-int8", OnnxInt8Config, _apply, terminal=True, save=_save, load=_load))
