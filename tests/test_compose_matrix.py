"""Every ordered pair of techniques, on a tiny BERT and a tiny RoBERTa: either the recipe validator rejects
the order before anything loads (with the reason the README's compatibility table gives), or the stages
run through the runner's own code path, the artefact is saved by the runner's saver, and
`trimformer.load_model` in a fresh process gives the in-memory model's logits.

Tolerance: 1e-4 on logits for every kind (all reload paths measured exact here; the margin covers
float summation order)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pytest
import tiny
import torch
from conftest_prune import tiny_model

from trimformer import data as data_mod
from trimformer.recipe import RecipeError, validate
from trimformer.runner import save_stage
from trimformer.stages import RunState, get_stage
from trimformer.tasks import TaskSpec

TOLERANCE = 1e-4
TRAIN = {"max_steps": 1, "per_device_train_batch_size": 8, "use_cpu": True, "learning_rate": 1e-3}
LORA = {"r": 4, "dropout": 0.0, "distill": False, "training": TRAIN}
KINDS: dict[str, list[dict]] = {
    # Global magnitude pruning leaves uneven per-layer head counts (asserted below).
    "prune_heads": [
        {"type": "prune_heads", "amount": 0.34, "scope": "global", "importance": "magnitude", "normalize": False}
    ],
    "prune_layers": [{"type": "prune_layers", "strategy": "top", "count": 1}],
    "prune_ffn": [{"type": "prune_ffn", "amount": 0.5, "scope": "global", "importance": "magnitude"}],
    "prune_vocab": [{"type": "prune_vocab"}],
    "lowrank": [{"type": "lowrank", "target_compression": 0.5, "min_rank": 2}],
    "lora": [{"type": "lora", **LORA}],
    "qlora+merge": [{"type": "lora", "qlora": True, **LORA}, {"type": "merge"}],
    "int8-cpu": [{"type": "quantize", "method": "int8-cpu"}],
    "torch-ao-int8": [{"type": "quantize", "method": "torch-ao-int8"}],
    "torchao-int8-dynamic": [{"type": "quantize", "method": "torchao-int8-dynamic", "compile": False}],
    "embedding-int8": [{"type": "quantize", "method": "embedding-int8"}],
    "bnb-8bit": [{"type": "quantize", "method": "bnb-8bit"}],
    "bnb-nf4": [{"type": "quantize", "method": "bnb-nf4"}],
}
FAMILIES = ("bert", "roberta")
PAIRS = [(a, b) for a in KINDS for b in KINDS]
TEXTS = ["the film was great", "a dull and boring plot", "fun actors and a warm story"]
TASK = TaskSpec("sequence-classification", 2, ("neg", "pos"))


def _tokenizer(family: str):
    if family == "bert":
        return tiny.make_tokenizer()
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = [r["text"] for r in tiny.sentiment_rows(200)] + TEXTS
    bpe.train_from_iterator(corpus, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, cls_token="<s>", sep_token="</s>", **specials)


_DATA: dict[str, tuple] = {}


def _state(family: str, root: Path) -> RunState:
    if family not in _DATA:  # tokenizer and tokenized data are shared by every pair of a family
        tok = _tokenizer(family)
        rows = tiny.sentiment_rows(64)
        raw = datasets.DatasetDict(
            train=datasets.Dataset.from_list(rows[:48]), validation=datasets.Dataset.from_list(rows[48:])
        )
        settings = data_mod.DataSettings(path="memory", max_length=16)
        _DATA[family] = (tok, data_mod.prepare(raw, TASK, settings, tok))
    tok, data = _DATA[family]
    model = tiny_model(family, vocab_size=len(tok), id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    return RunState(task=TASK, output_dir=root, model=model, tokenizer=tok, data=data, training={"report_to": []})


def _recipe(stages: list[dict]) -> dict:
    return {
        "data": {"path": "memory.csv"},
        "teacher": {"model": "memory-teacher"},
        "student": {"init": "pretrained", "model": "memory-student"},
        "stages": stages,
    }


_FIRST: dict[tuple[str, str], tuple] = {}  # (family, first kind) -> (model, tokenizer) after its stages


def _after_first(family: str, first: str, configs: list, root: Path) -> RunState:
    """The state after the first kind's stages: computed once per family and kind, then copied, so each
    pair runs only its second kind (the pair's own code path is the same as a fresh run's)."""
    state = _state(family, root)
    key = (family, first)
    if key not in _FIRST:
        for config, entry in zip(configs, KINDS[first]):
            state.run_stage(entry["type"], config)
        _FIRST[key] = (state.model, state.tokenizer)
    state.model, state.tokenizer = copy.deepcopy(_FIRST[key][0]), _FIRST[key][1]
    return state


def _run_pair(family: str, first: str, second: str, root: Path) -> dict:
    stages = KINDS[first] + KINDS[second]
    try:
        loaded = validate(_recipe(stages), f"{first}->{second}", check_files=False)
    except RecipeError as exc:
        return {"rejected": str(exc)}
    n = len(KINDS[first])
    state = _after_first(family, first, loaded.stages[:n], root)
    for config, entry in zip(loaded.stages[n:], stages[n:]):
        state.run_stage(entry["type"], config)
    folder = root / "artefact"
    save_stage(state.model, state.tokenizer, folder)
    enc = state.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = state.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    torch.save(expected.float(), root / "expected.pt")  # our own test file, read back by the fresh process
    return {"folder": str(folder), "expected": str(root / "expected.pt")}


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys, torch
    from transformers import AutoTokenizer
    from trimformer.loading import load_model
    cases, texts = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
    out = {}
    for key, case in cases.items():
        try:
            model = load_model(case["folder"]).eval()
            tok = AutoTokenizer.from_pretrained(case["folder"])
            enc = tok(texts, padding=True, return_tensors="pt")
            with torch.no_grad():
                got = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float()
            out[key] = float((got - torch.load(case["expected"])).abs().max())
        except Exception as exc:  # reported per pair by the test
            out[key] = f"{type(exc).__name__}: {exc}"
    json.dump(out, open(sys.argv[3], "w"))
    """
)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    torch.manual_seed(0)
    _FIRST.clear()
    results: dict[str, dict] = {}
    for family in FAMILIES:
        for first, second in PAIRS:
            key = f"{family}:{first}->{second}"
            root = tmp_path_factory.mktemp(key.replace(":", "_").replace("->", "__"))
            start = time.perf_counter()
            try:
                results[key] = _run_pair(family, first, second, root)
            except Exception as exc:  # noqa: BLE001 - a crash after validation is the failure we report
                results[key] = {"crashed": f"{type(exc).__name__}: {exc}"}
            results[key]["seconds"] = time.perf_counter() - start
    runnable = {k: r for k, r in results.items() if "folder" in r}
    work = tmp_path_factory.mktemp("fresh")
    (work / "cases.json").write_text(json.dumps(runnable))
    subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(work / "cases.json"), json.dumps(TEXTS), str(work / "out.json")],
        check=True,
        capture_output=True,
        timeout=900,
    )
    for key, diff in json.loads((work / "out.json").read_text()).items():
        results[key]["reload_diff"] = diff
    return results


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_pair_is_rejected_up_front_or_reloads_exactly(matrix, family, first, second):
    result = matrix[f"{family}:{first}->{second}"]
    assert "crashed" not in result, result["crashed"]
    if "rejected" in result:
        message = result["rejected"]
        assert "\n" not in message and ("cannot follow" in message or "cannot run here" in message)
        return
    diff = result["reload_diff"]
    assert isinstance(diff, float), diff
    assert diff <= TOLERANCE


def test_matrix_counts(matrix):
    """The closing note's numbers, and a guard that most sensible orders run."""
    for family in FAMILIES:
        rows = [v for k, v in matrix.items() if k.startswith(family)]
        ran = sum("folder" in r for r in rows)
        rejected = sum("rejected" in r for r in rows)
        print(f"{family}: {len(rows)} pairs, {ran} ran and reloaded, {rejected} rejected up front")
        assert ran + rejected == len(rows) and ran >= 80
    slowest = sorted(matrix.items(), key=lambda kv: -kv[1]["seconds"])[:8]
    print("slowest:", [(k, round(v["seconds"], 1)) for k, v in slowest])


def test_rejections_match_the_compatibility_table():
    """The validator and the README table come from the same effects: every pair the table marks ✗ for
    single stages is rejected by the validator with the same reason."""
    from trimformer.stages.compat import effects, stage_configs

    configs = stage_configs()
    for a in effects():
        for b in effects():
            stages = [{"type": configs[k][0], **configs[k][1].model_dump(exclude_unset=True)} for k in (a, b)]
            try:
                validate(_recipe(stages), "pair", check_files=False)
                ok = True
            except RecipeError:
                ok = False
            from trimformer.artefact.capabilities import Step, pair_result

            steps = [Step(k, k, configs[k][1].effect("sequence-classification")) for k in (a, b)]
            assert ok == pair_result(*steps).ok, (a, b)


def test_heads_and_ffn_kinds_leave_uneven_layers(matrix):
    """The matrix's pruning kinds really produce per-layer shapes plain transformers cannot express."""
    from trimformer.artefact.log import get_log

    for family in FAMILIES:
        heads = get_log(_FIRST[(family, "prune_heads")][0]).last("prune_heads")["heads_per_layer"]
        widths = get_log(_FIRST[(family, "prune_ffn")][0]).last("prune_ffn")["widths"]
        assert len(set(heads)) > 1 and len(set(widths)) > 1, (heads, widths)


def test_stage_registry_has_every_kind():
    for stages in KINDS.values():
        for entry in stages:
            assert get_stage(entry["type"]) is not None
