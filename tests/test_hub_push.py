"""Publishing against an in-process Hub-protocol server, driven by the real huggingface_hub client."""

import os

# Must precede any huggingface_hub import in a fresh process (constants are read at import time); the
# `hub` fixture also patches the constants for processes where an earlier module imported it already.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from hub_server import DUMMY_TOKEN, RECIPE_SECRET, hub_fixture, sample_report  # noqa: E402, F401

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "movie", "film", "great", "."]
REPO = "tester/tiny"


def _tiny_model(seed: int):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    return BertForSequenceClassification(config).eval()


def _tokenizer(tmp: Path):
    from transformers import BertTokenizer

    (tmp / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return BertTokenizer(vocab_file=str(tmp / "vocab.txt"))


@pytest.fixture(scope="module")
def run_output(tmp_path_factory):
    """A fake finished run: OUTPUT/finetune (teacher), OUTPUT/distill (stage), report.json."""
    out = tmp_path_factory.mktemp("OUTPUT")
    tokenizer = _tokenizer(tmp_path_factory.mktemp("vocab"))
    for name, seed in (("finetune", 0), ("distill", 1)):
        _tiny_model(seed).save_pretrained(out / name)
        tokenizer.save_pretrained(out / name)
    (out / "distill" / "training_args.bin").write_bytes(b"not for upload")
    (out / "report.json").write_text(json.dumps(sample_report(out)))
    return out


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _logits(model, tokenizer) -> torch.Tensor:
    inputs = tokenizer(["a good movie .", "bad film"], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**inputs).logits


def test_push_then_load_gives_identical_logits(hub, run_output, tmp_path):
    from huggingface_hub import HfApi, ModelCard
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trimformer.hub import push_output

    before = folder_digest(run_output)
    result = push_output(run_output, REPO)
    assert folder_digest(run_output) == before
    assert result.stage == "distill" and result.skipped == []

    files = set(HfApi().list_repo_files(REPO))
    expected = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"}
    expected |= {"tradeoff.png", "report.json", "report.md", "recipe.yaml"}
    assert expected <= files
    assert "training_args.bin" not in files

    local = AutoModelForSequenceClassification.from_pretrained(run_output / "distill").eval()
    remote = AutoModelForSequenceClassification.from_pretrained(REPO, cache_dir=tmp_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(REPO, cache_dir=tmp_path)
    torch.testing.assert_close(_logits(remote, tokenizer), _logits(local, tokenizer), rtol=0, atol=0)

    card = ModelCard.load(REPO)
    assert card.data.base_model == "prajjwal1/bert-tiny"
    assert card.data.base_model_relation == "finetune"
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert {"trimformer", "distillation"} <= set(card.data.tags)
    assert card.data.eval_results[0].metric_type == "accuracy"
    assert card.data.eval_results[0].metric_value == pytest.approx(0.78)
    assert f'AutoModelForSequenceClassification.from_pretrained("{REPO}")' in card.text

    # The token was sent as a header and never stored; the recipe's secret was scrubbed.
    assert f"Bearer {DUMMY_TOKEN}" in hub.auth_headers
    for name, data in hub.all_stored_bytes():
        assert DUMMY_TOKEN.encode() not in data, name
        assert RECIPE_SECRET.encode() not in data, name


def test_failed_push_keeps_output_and_retry_skips_uploaded(hub, run_output):
    from trimformer.hub import PushError, push_output

    before = folder_digest(run_output)
    hub.fail("commit", times=1, after=1)  # weights commit goes through, the card/report commit fails once
    with pytest.raises(PushError) as info:
        push_output(run_output, REPO, stage="distill")
    message = str(info.value)
    assert "\n" not in message
    assert f"trimformer push {run_output} --repo-id {REPO} --stage distill" in message
    assert folder_digest(run_output) == before

    result = push_output(run_output, REPO, stage="distill")
    assert "model.safetensors" in result.skipped
    assert "README.md" in result.uploaded and "model.safetensors" not in result.uploaded
    assert hub.count("PUT", r"^/__lfs/") == 2  # weights + plot, each uploaded once across both attempts
    assert folder_digest(run_output) == before

    again = push_output(run_output, REPO, stage="distill")  # nothing changed: nothing to commit
    assert again.uploaded == [] and "README.md" in again.skipped


def test_push_without_token_says_how_to_log_in(hub, run_output, monkeypatch, tmp_path):
    from huggingface_hub import constants

    from trimformer.hub import PushError, push_output

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(PushError, match="hf auth login"):
        push_output(run_output, REPO)
    assert hub.repos == {}


def test_adapter_pushes_as_peft_with_base_model(hub, tmp_path):
    from huggingface_hub import ModelCard
    from peft import LoraConfig, PeftModel, get_peft_model

    from trimformer.hub import push_output

    base_dir = tmp_path / "base"
    _tiny_model(0).save_pretrained(base_dir)
    tokenizer = _tokenizer(tmp_path)
    lora = get_peft_model(
        _tiny_model(0), LoraConfig(r=2, target_modules=["query", "value"], modules_to_save=["classifier"])
    )
    torch.nn.init.normal_(lora.base_model.model.bert.encoder.layer[0].attention.self.query.lora_B.default.weight)
    out = tmp_path / "OUTPUT"
    lora.save_pretrained(out / "lora")
    tokenizer.save_pretrained(out / "lora")
    config = json.loads((out / "lora" / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "prajjwal1/bert-tiny"
    (out / "lora" / "adapter_config.json").write_text(json.dumps(config))
    (out / "report.json").write_text(json.dumps(sample_report(out, stage_types=("lora",))))

    push_output(out, "tester/tiny-lora")
    card = ModelCard.load("tester/tiny-lora")
    assert card.data.library_name == "peft"
    assert card.data.base_model == "prajjwal1/bert-tiny" and card.data.base_model_relation == "adapter"
    assert 'PeftModel.from_pretrained(base, "tester/tiny-lora")' in card.text

    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(base_dir)
    remote = PeftModel.from_pretrained(base, "tester/tiny-lora", cache_dir=tmp_path / "cache").eval()
    torch.testing.assert_close(_logits(remote, tokenizer), _logits(lora.eval(), tokenizer), rtol=0, atol=0)


def test_cli_push(hub, run_output, capsys):
    from trimformer.hub.cli import add_push_command, add_report_command

    parser = argparse.ArgumentParser(prog="trimformer")
    sub = parser.add_subparsers(dest="command", required=True)
    add_push_command(sub)
    add_report_command(sub)

    args = parser.parse_args(["push", str(run_output), "--repo-id", "tester/cli"])
    assert args.fn(args) == 0
    assert "tester/cli" in capsys.readouterr().out

    args = parser.parse_args(["push", str(run_output), "--stage", "nope"])  # repo id from recipe hub.repo_id
    assert args.fn(args) == 1
    assert "stage 'nope' is not in report.json" in capsys.readouterr().err


def test_recipe_hub_section_pushes_after_run(hub, run_output):
    from trimformer.hub import parse_hub_section, push_after_run

    assert push_after_run(run_output, None) is None  # no hub section: nothing to do
    assert push_after_run(run_output, {"repo_id": "tester/auto", "push": False}) is None
    result = push_after_run(run_output, {"repo_id": "tester/auto", "private": True, "license": "mit"})
    assert result.repo_id == "tester/auto" and hub.repos["tester/auto"].private

    from trimformer.card import CardError

    with pytest.raises(CardError, match="hub.token: never put tokens in a recipe"):
        parse_hub_section({"repo_id": "x/y", "token": "hf_x"})
    with pytest.raises(CardError, match=r"hub.repoid: .*known keys: repo_id"):
        parse_hub_section({"repoid": "x/y"})


def test_card_the_hub_rejects_stops_the_push_before_any_weights(hub, run_output, tmp_path):
    """huggingface_hub's ModelCard.validate runs first: a card the Hub refuses uploads nothing."""
    import shutil

    from trimformer.card import CardError
    from trimformer.hub import push_output

    out = tmp_path / "OUTPUT"
    shutil.copytree(run_output, out)
    report = json.loads((out / "report.json").read_text())
    report["recipe"]["hub"]["license"] = 123  # the Hub wants a string
    (out / "report.json").write_text(json.dumps(report))
    with pytest.raises(
        CardError, match=r'the Hub rejected the generated card.s metadata \("license" must be a string'
    ):
        push_output(out, REPO, stage="distill")
    assert hub.count("POST", r"/commit/") == 0 and hub.count("PUT", r"^/__lfs/") == 0
