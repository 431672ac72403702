"""trimformer: distil, prune and quantize transformer encoders with the Hugging Face Trainer.

Public names import lazily, so `trimformer --help` and `trimformer validate` never import torch.
"""

from trimformer import _quiet
from trimformer._lazy import lazy_exports

__version__ = "0.1.0"
_EXPORTS = {
    "Calibration": "compress",
    "TechniqueConfig": "compress",
    "compress_": "compress",
    "DistillationConfig": "config",
    "DistillationTrainer": "trainer",
    "load_data": "user_data",
    "load_model": "loading",
    "save_artefact": "artefact.io",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
_quiet.install()  # known-harmless third-party log lines, one logger and message each (see _quiet.py)
__all__ = sorted(_EXPORTS)
