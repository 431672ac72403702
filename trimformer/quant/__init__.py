"""Quantization, low-rank factorization and LoRA/QLoRA. Importing this package registers every technique
config with `trimformer.compress` and every artefact loader with `trimformer.loading`.

CPU deployment default (`int8-cpu`): ONNX Runtime dynamic int8 with int8 embeddings (see onnx_int8.py for
the measurements behind the choice). GPU memory: bitsandbytes 8-bit / NF4 / FP4 and QLoRA.
"""

from trimformer.quant.bnb import BnbConfig, load_bnb, quantize_bnb
from trimformer.quant.embedding import EmbeddingInt8Config, Int8Embedding, quantize_embeddings_
from trimformer.quant.lora import LoraAdapterConfig, apply_lora, save_lora
from trimformer.quant.lowrank import LowRankConfig, LowRankLinear, factorize_
from trimformer.quant.merge import merge_lora
from trimformer.quant.onnx_int8 import OnnxInt8Config, OrtModel, export_onnx_int8, quantize_onnx_int8
from trimformer.quant.torch_dynamic import TorchDynamicInt8Config, quantize_torch_dynamic_, save_torch_dynamic
from trimformer.quant.torchao_int8 import TorchAoInt8Config, quantize_torchao

# The CPU int8 path `int8-cpu` resolves to (chosen by measurement, see onnx_int8.py).
DEFAULT_CPU_INT8 = "onnx-int8"

__all__ = [
    "DEFAULT_CPU_INT8",
    "BnbConfig",
    "EmbeddingInt8Config",
    "Int8Embedding",
    "LoraAdapterConfig",
    "LowRankConfig",
    "LowRankLinear",
    "OnnxInt8Config",
    "OrtModel",
    "TorchAoInt8Config",
    "TorchDynamicInt8Config",
    "apply_lora",
    "export_onnx_int8",
    "factorize_",
    "load_bnb",
    "merge_lora",
    "quantize_bnb",
    "quantize_embeddings_",
    "quantize_onnx_int8",
    "quantize_torch_dynamic_",
    "quantize_torchao",
    "save_lora",
    "save_torch_dynamic",
]
