"""trimformer: distil, prune and quantize transformer encoders with the Hugging Face Trainer."""

from trimformer.compress import Calibration, compress_, register_technique
from trimformer.config import DistillationConfig
from trimformer.loading import load_model
from trimformer.trainer import DistillationTrainer

__version__ = "0.1.0"
__all__ = ["Calibration", "DistillationConfig", "DistillationTrainer", "compress_", "load_model", "register_technique"]
