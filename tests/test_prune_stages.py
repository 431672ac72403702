"""The recipe stages: prune_heads with recovery distillation, prune_vocab replacing the tokenizer."""

import datasets
from conftest_prune import CORPUS, tiny_model, wordpiece_tokenizer

from trimformer import data as data_mod
from trimformer.artefact.io import save_artefact
from trimformer.artefact.log import get_log
from trimformer.loading import load_model
from trimformer.stages import RunState, get_stage  # the package import registers every stage
from trimformer.tasks import TaskSpec


def _state(tmp_path):
    tok = wordpiece_tokenizer()
    texts = CORPUS * 4
    raw = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(len(texts))]}),
        validation=datasets.Dataset.from_dict({"text": CORPUS[:2] + ["zebra unseen"], "label": [0, 1, 0]}),
    )
    task = TaskSpec("sequence-classification", num_labels=2)
    settings = data_mod.DataSettings(path="memory", max_length=32)
    task_data = data_mod.prepare(raw, task, settings, tok)
    model = tiny_model("bert", vocab_size=len(tok))
    training = {"max_steps": 2, "per_device_train_batch_size": 4, "use_cpu": True, "learning_rate": 1e-4}
    return RunState(
        task=task,
        output_dir=tmp_path,
        model=model,
        tokenizer=tok,
        teacher_tokenizer=tok,
        data=task_data,
        training=training,
    )


def _run(stage_type, state, **fields):
    return state.run_stage(stage_type, get_stage(stage_type).config_cls(**fields))


def test_prune_heads_stage_with_recovery(tmp_path):
    state = _state(tmp_path)
    result = _run(
        "prune_heads",
        state,
        amount=0.5,
        calibration_batches=2,
        calibration_batch_size=4,
        recovery={"training": {"max_steps": 2}},
    )
    assert sum(result.info["shapes"]["heads_per_layer"]) == 6
    assert result.info["training"]["optimizer_steps"] == 2
    save_artefact(state.model, state.tokenizer, tmp_path / "out")
    reloaded = load_model(str(tmp_path / "out"))
    assert sum(get_log(reloaded).last("prune_heads")["heads_per_layer"]) == 6


def test_prune_layers_and_ffn_stages(tmp_path):
    state = _state(tmp_path)
    _run("prune_layers", state, strategy="importance", count=1, calibration_batches=2, calibration_batch_size=4)
    _run("prune_ffn", state, amount=0.5)
    assert state.model.config.num_hidden_layers == 2 and state.model.config.intermediate_size == 32


def test_prune_vocab_stage_retokenizes(tmp_path):
    state = _state(tmp_path)
    old = len(state.tokenizer)
    _run("prune_vocab", state)
    assert len(state.tokenizer) < old
    assert state.model.config.vocab_size == len(state.tokenizer)
    # Later stages read the pruned ids; the teacher (old vocabulary) keeps reading its own.
    view = state.data.view(state.tokenizer, state.teacher_tokenizer)
    assert max(max(ids) for ids in view.train["input_ids"]) < len(state.tokenizer)
    assert "teacher_input_ids" in view.train.column_names
    assert max(max(ids) for ids in view.train["teacher_input_ids"]) >= len(state.tokenizer)
