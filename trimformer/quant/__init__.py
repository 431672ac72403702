"""Quantization, low-rank factorization and LoRA/QLoRA. Configs live in quant/config.py (no torch); each
implementation module registers its transform (apply, shape rebuild, safetensors conversion) with
`trimformer.artefact` on import. Names below import lazily.

CPU deployment default (`int8-cpu`): ONNX Runtime dynamic int8 with int8 embeddings (see onnx_int8.py for
the measurements behind the choice). GPU memory: bitsandbytes 8-bit / NF4 / FP4 and QLoRA.
"""

from trimformer._lazy import lazy_exports

# The CPU int8 path `int8-cpu` resolves to (chosen by measurement, see onnx_int8.py).
DEFAULT_CPU_INT8 = "onnx-int8"
TECHNIQUE_MODULES = ("bnb", "embedding", "lora", "lowrank", "merge", "onnx_int8", "torch_dynamic", "torchao_int8")
_EXPORTS = {
    "BnbConfig": "config",
    "EmbeddingInt8Config": "config",
    "LoraAdapterConfig": "config",
    "LowRankConfig": "config",
    "MergeConfig": "config",
    "OnnxInt8Config": "config",
    "TorchAoInt8Config": "config",
    "TorchDynamicInt8Config": "config",
    "load_bnb": "bnb",
    "quantize_bnb": "bnb",
    "Int8Embedding": "embedding",
    "quantize_embeddings_": "embedding",
    "apply_lora": "lora",
    "save_lora": "lora",
    "LowRankLinear": "lowrank",
    "factorize_": "lowrank",
    "merge_lora": "merge",
    "OrtModel": "onnx_int8",
    "export_onnx_int8": "onnx_int8",
    "quantize_onnx_int8": "onnx_int8",
    "quantize_torch_dynamic_": "torch_dynamic",
    "quantize_torchao": "torchao_int8",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["DEFAULT_CPU_INT8", *sorted(_EXPORTS)]
