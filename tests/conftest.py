import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same RNG state, whatever ran before it (tests run in random order)."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_run(tmp_path):
    """A tiny teacher checkpoint, tokenizer and a learnable CSV dataset on disk."""
    import pandas as pd
    import tiny

    model = tiny.tiny_bert(0, layers=4, hidden=64)
    tokenizer = tiny.make_tokenizer()
    model.save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    pd.DataFrame(tiny.sentiment_rows(240)).to_csv(tmp_path / "data.csv.gz", index=False)
    return tmp_path
