"""Hostile input: every malformed recipe, data file and command line in tests/malformed/ gives exit code 2,
exactly one line on stderr naming the field or file and the fix, and writes nothing.

tests/malformed/recipes/*.yaml are whole recipes, each one change away from tests/malformed/good.yaml
(the first line says what is wrong); tests/malformed/data/ holds the bad data files. Placeholders
(@OUT@, @CORPUS@, @TEACHER@, ...) are filled in per test with tmp_path folders and tiny local models,
so `validate` reads real config.json files and never loads weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trimformer.cli import main

CORPUS = Path(__file__).parent / "malformed"

# case -> fragments the one error line must hold: the field or file it names, and the fix it suggests.
RECIPE_CASES: dict[str, list[str]] = {
    # YAML and the recipe's shape
    "yaml_unclosed": ["line 4", "not valid YAML", "fix the syntax"],
    "yaml_tab_indent": ["line 3", "not valid YAML", "fix the syntax"],
    "yaml_bad_date": ["not valid YAML", "month must be in 1..12"],
    "not_a_mapping": ["the recipe must be a YAML mapping", "data:, teacher:, stages:"],
    "empty_file": ["the recipe must be a YAML mapping"],
    "recipe_not_utf8": ["not UTF-8", "re-save it as UTF-8"],
    "unknown_top_key": ["outptu_dir: unknown key", "did you mean 'output_dir'?"],
    "unknown_data_key": ["data.text_col: unknown key", "did you mean 'text_column'?"],
    "missing_teacher": ["teacher: required field is missing", "add it"],
    "missing_stages": ["stages: required field is missing"],
    "empty_stages": ["stages: list should have at least 1 item"],
    "stage_without_type": ["stages[0]: each stage needs a 'type'", "distill"],
    "stage_type_typo": ["stages[0].type: unknown stage 'distil'", "did you mean 'distill'?"],
    "stage_unknown_key": ["stages[0].alpha_kl: unknown key", "did you mean 'alpha_kd'?"],
    "seed_text": ["seed: input should be a valid integer", "'abc'"],
    "seed_negative": ["seed: input should be greater than or equal to 0"],
    "task_unknown": ["task: input should be", "'sequence-classification'", "'translation'"],
    "teacher_model_list": ["teacher.model: input should be a valid string"],
    "trust_remote_code_text": ["trust_remote_code: input should be a valid boolean"],
    "output_dir_empty": ["output_dir: string should have at least 1 character"],
    # data section values
    "label_names_repeated": ["data.label_names", "['neg'] repeated", "list each class once"],
    "label_names_single": ["data.label_names: list should have at least 2 items"],
    "filter_empty_list": ["data.filter", "label: an empty list would drop every row", "list the values to keep"],
    "filter_nested_value": ["data.filter", "list single values to keep"],
    "max_length_huge": ["data.max_length: input should be less than or equal to 8192"],
    "max_length_past_positions": ["data.max_length: 512", "64 positions", "lower it to 64"],
    "measure_length_past_positions": ["measure.length: 128", "64 positions", "lower it to 64"],
    "eval_fraction_one": ["data.eval_fraction: input should be less than 1"],
    "measure_batch_zero": ["measure.batch_sizes[0]: input should be greater than or equal to 1"],
    "budget_infinite": ["budget.max_drop: input should be a finite number"],
    # student
    "student_layers_empty": ["student.layers: list should have at least 1 item"],
    "student_layers_out_of_range": ["student.layers: [9] out of range", "layers 0..3"],
    "student_layers_negative": ["student.layers[0]: input should be greater than or equal to 0"],
    "student_layers_repeated": ["student.layers", "lists a layer twice", "list each teacher layer once"],
    "student_num_layers_too_many": ["student.num_layers: 10", "teacher's 4 layers", "use at most 4"],
    "student_config_wrong_init": ["student", "student.config applies to init: random", "remove it"],
    "student_random_unknown_field": ["student.config.num_layer", "BertConfig has no such field", "num_hidden_layers"],
    "student_random_bad_heads": ["student.config: hidden_size 30 is not a multiple of num_attention_heads 4"],
    "student_pretrained_no_model": ["student", "init: pretrained needs student.model"],
    "student_pretrained_missing": ["student.model: folder not found: ./models/student", "Hub model id"],
    # training arguments
    "batch_size_zero": ["training.per_device_train_batch_size: must be >= 1 (got 0)"],
    "learning_rate_negative": ["training.learning_rate: must be > 0"],
    "learning_rate_nan": ["training.learning_rate: must be a finite number"],
    "max_steps_huge": ["training.max_steps: must be -1 (train by epochs) or 1..10,000,000"],
    "epochs_text": ["training.num_train_epochs: must be a number", "'two'"],
    "training_key_typo": ["training.learning_rat: unknown TrainingArguments field", "did you mean 'learning_rate'?"],
    "scheduler_typo": ["training.lr_scheduler_type: 'cosin' is not an option", "did you mean 'cosine'?"],
    "training_output_dir": ["training.output_dir: is set by the runner", "top-level output_dir"],
    "stage_training_bool_text": ["stages[0].training.bf16: must be true or false", "'yes'"],
    "recovery_training_bad": ["stages[0].recovery.training.max_steps: must be -1"],
    "recovery_weights_zero": ["stages[0].recovery", "alpha_task and alpha_kd are both 0", "drop recovery"],
    # stage amounts and fields
    "prune_amount_fraction_above_one": ["stages[0].amount", "neither a fraction below 1", "nor a whole count"],
    "prune_amount_million": ["stages[0].amount", "1000000 heads", "use at most 6 or a fraction below 1"],
    "prune_amount_negative": ["stages[0].amount: input should be greater than 0"],
    "prune_ffn_too_many": ["stages[0].amount", "1000 neurons", "use at most 63"],
    "prune_heads_layer_out_of_range": ["stages[0].heads: {7: [0]} is out of range", "layers 0..1"],
    "prune_heads_all_of_a_layer": ["stages[0].heads: layer 0 would keep 0 heads", "remove fewer heads"],
    "prune_layers_all": ["stages[0]: would drop 2 of the student's 2 layers", "keep at least one"],
    "prune_layers_no_layers": ["stages[0]", "strategy: explicit needs layers"],
    "prune_layers_count_missing": ["stages[0]", "strategy: top needs count"],
    "distill_weights_all_zero": ["stages[0]", "all loss weights are 0", "above 0"],
    "distill_temperature_zero": ["stages[0].temperature: input should be greater than 0"],
    "distill_alpha_text": ["stages[0].alpha_kd: input should be a valid number", "'half'"],
    "layer_map_out_of_range": ["stages[0].layer_map: pair [1, 9] is out of range", "teacher 0..4"],
    "layer_map_negative": ["stages[0].layer_map: [-1, 2] is not a [student, teacher] pair"],
    "layer_map_not_pairs": ["stages[0].layer_map: [1, 2, 3] is not a [student, teacher] pair"],
    "attention_head_mismatch": ["stages[0].alpha_attention", "equal head counts", "set alpha_attention to 0"],
    "teacher_cache_with_hidden": ["stages[0].teacher_cache", "set alpha_hidden and alpha_attention to 0"],
    "teacher_cache_masked_lm": ["stages[0].teacher_cache", "new mask every step", "set teacher_cache: false"],
    "teacher_cache_embedding_token_task": ["stages[0].alpha_embedding", "one per sentence", "teacher_cache: false"],
    "augment_zero_variants": ["stages[0].augment.n_variants: input should be greater than or equal to 1"],
    "lora_loss_unknown_field": ["stages[0].loss.alpha_kdd: unknown loss field", "did you mean 'alpha_kd'?"],
    "lora_loss_negative": ["stages[0].loss.alpha_kd: must be >= 0"],
    "lora_no_targets": ["stages[0].target_modules: list should have at least 1 item"],
    "lowrank_energy_zero": ["stages[0].energy: input should be greater than 0"],
    "quantize_unknown_method": ["stages[0].method: input should be", "'int8-cpu'", "'int4'"],
    # stage order and prerequisites
    # (each names both stages, why, and an order that works: trimformer.artefact.capabilities)
    "merge_without_lora": ["stages[1] (merge) cannot run here: merge needs a lora stage before it"],
    "quantize_after_int8_export": [
        "stages[2] (quantize:embedding-int8) cannot follow stages[1] (quantize:int8-cpu)",
        "ONNX Runtime graph",
        "an order that works: distill -> quantize:embedding-int8 -> quantize:int8-cpu",
    ],
    "prune_after_quantize": [
        "stages[1] (prune_heads) cannot follow stages[0] (quantize:int8-cpu)",
        "an order that works: prune_heads -> quantize:int8-cpu",
    ],
    "distill_after_quantize": [
        "stages[1] (distill) cannot follow stages[0] (quantize:int8-cpu)",
        "an order that works: distill -> quantize:int8-cpu",
    ],
    "lora_after_int8_export": [
        "stages[1] (lora) cannot follow stages[0] (quantize:int8-cpu)",
        "lora -> merge -> quantize:int8-cpu",
    ],
    "prune_after_lowrank": [
        "stages[1] (prune_ffn) cannot follow stages[0] (lowrank)",
        "factored the Linear layers into low-rank pairs",
        "an order that works: prune_ffn -> lowrank",
    ],
    "lora_after_lowrank": ["stages[1] (lora) cannot follow stages[0] (lowrank)", "lora -> merge -> lowrank"],
    "prune_after_bnb": [
        "stages[1] (prune_heads) cannot follow stages[0] (quantize:bnb-nf4)",
        "quantized the Linear weights, and this stage needs float weights",
    ],
    "distill_after_lora": ["stages[1] (distill) cannot follow stages[0] (lora)", "merge them first"],
    "bnb_after_lora": [
        "stages[1] (quantize:bnb-nf4) cannot follow stages[0] (lora)",
        "an order that works: quantize:bnb-nf4 -> lora;",
        "or merge the adapters first: lora -> merge -> quantize:bnb-nf4",
    ],
    "embedding_int8_then_vocab": [
        "stages[1] (prune_vocab) cannot follow stages[0] (quantize:embedding-int8)",
        "quantized the word embeddings",
    ],
    "stage_name_escapes": ["stages[0].name: '../escaped' is not a plain folder name", "no path separators"],
    "stage_name_absolute": ["stages[0].name: '/tmp/elsewhere' is not a plain folder name"],
    "stage_name_reserved": ["stages[0].name: 'teacher' is reserved", "choose another name"],
    "stage_names_collide": ["stages[2].name: 'distill-2' is also the folder of stages[0]", "its own name"],
    "prune_unsupported_model": ["stages[0] (prune_heads): pruning supports model types bert, roberta", "'distilbert'"],
    "prune_vocab_unigram_tokenizer": ["stages[0] (prune_vocab): vocabulary pruning supports WordPiece and BPE"],
    "embedding_int8_tied_mlm": ["stages[0] (quantize): embedding-int8 cannot quantize a masked-lm model"],
    "own_tokenizer_masked_lm": ["teacher.own_tokenizer", "masked-lm student must share the teacher's tokenizer"],
    # references: files and folders
    "data_bare_name_missing": ["data.path: file not found: reviews.csv", "if you meant a Hub dataset id"],
    "data_nested_missing": ["data.path: file not found: data/reviews_missing.csv", "Hub dataset id"],
    "data_misspelled_extension": ["data.path: file not found:", "good.cvs", "fix the path"],
    "data_is_folder": ["data.path:", "is a folder", "point at one data file"],
    "data_unknown_extension": ["data.path:", "notes.txt: unknown file type", ".csv/.tsv/.json"],
    "data_package_missing": ["data.path: package:no_such_pkg_xyz/data.csv", "pip install"],
    "data_hub_unreachable": ["data.path: cannot load the Hub dataset 'no-such-dataset-xyz'", "use a local file"],
    "teacher_folder_missing": ["teacher.model: folder not found: ./models/teacher", "Hub model id"],
    "teacher_is_file": ["teacher.model:", "good.csv is a file", "point at the model's folder"],
    "teacher_no_config": ["teacher.model:", "has no config.json", "save_pretrained"],
    "teacher_no_weights": ["teacher.model:", "has no weights", "save_pretrained"],
    "teacher_remote_code": ["teacher.model:", "auto_map", "set trust_remote_code: true"],
    "teacher_package_missing": ["teacher.model: package:no_such_pkg_xyz/model", "is not installed"],
    "unlabeled_missing": ["data.unlabeled_path: file not found: extra_text.csv"],
    "unlabeled_no_text_column": ["data.unlabeled_path:", "unlabeled_no_text.csv has no 'text' column"],
    "eval_split_local_file": ["data.eval_split:", "no named splits", "remove data.eval_split"],
    "output_dir_is_file": ["output_dir:", "good.csv is a file", "choose a folder"],
    "output_dir_under_file": ["output_dir:", "good.csv is a file", "cannot be created"],
    "vocab_mismatch": ["teacher.model: its tokenizer has ids up to 34", "embeddings hold 10", "different models"],
    "own_tokenizer_false_vocab_differs": ["teacher.own_tokenizer: false", "vocabulary differs", "remove the setting"],
    "teacher_head_classes": ["teacher.model:", "2-class head", "three_classes.csv has 3 classes", "base model"],
    "teacher_head_label_order": ["data.label_names:", "['neg', 'pos']", "set data.label_names: ['neg', 'pos']"],
    # data files
    "data_empty_file": ["data.path:", "empty.csv is empty", "header row"],
    "data_header_only": ["data.path:", "header_only.csv has a header but no rows", "add examples"],
    "data_latin1": ["data.path:", "latin1.csv is not UTF-8", "line 3", "re-save it as UTF-8"],
    "data_ragged_rows": ["data.path:", "ragged.csv", "Expected 2 fields in line 7, saw 3", "quote text"],
    "data_broken_jsonl": ["data.path:", "broken.jsonl cannot be read as jsonl", "check the file"],
    "data_fake_parquet": ["data.path:", "fake.parquet cannot be read as parquet"],
    "data_truncated_gzip": ["data.path:", "truncated.csv.gz cannot be read as csv"],
    "data_label_column_absent": ["data.label_column: 'label' is not a column of", "no_label.csv", "sentiment"],
    "data_text_column_absent": ["data.text_column: 'review' is not a column of", "good.csv", "text, label"],
    "data_pair_column_absent": ["data.text_pair_column: 'hypothesis' is not a column of", "good.csv"],
    "data_filter_column_absent": ["data.filter.lang: 'lang' is not a column of", "good.csv"],
    "data_filter_matches_nothing": ["data.filter.label: no row of", "good.csv", "it holds: neg, pos"],
    "data_one_class": ["data.label_column:", "one_class.csv has one class only", "at least two"],
    "data_mixed_labels_csv": ["data.label_column:", "mixed_labels.csv mixes numbers and text", "same kind"],
    "data_mixed_labels_jsonl": ["data.label_column:", "mixed_labels.jsonl mixes numbers and text"],
    "data_stars_two_names": ["data.label_names: 2 names", "stars.csv holds 1, 2, 3, 4, 5", "one name per value"],
    "data_label_not_in_names": ["data.label_names:", "three_classes.csv holds 'neutral'", "add them"],
    "data_all_text_empty": ["data.text_column: every 'text' cell in", "empty_text.csv is empty"],
    "data_text_is_numbers": ["data.text_column: 'id' in", "numbers.csv holds numbers, not text"],
    "data_labels_all_empty": ["data.label_column: every 'label' cell in", "no_labels.csv is empty"],
    "data_continuous_labels": ["data.regression:", "continuous.csv holds continuous values", "true"],
    "data_regression_text_labels": ["data.regression: regression needs numeric labels", "'neg'"],
    "data_regression_infinite": ["data.label_column:", "regression_inf.csv holds", "must be finite"],
    "data_one_row": ["data.eval_fraction:", "one_row.csv has 1 usable row(s)", "add rows"],
    "data_all_duplicates": ["data.eval_fraction:", "duplicates.csv has 1 usable row(s)", "de-duplication"],
    "data_token_task_plain_text": ["data.text_column: token-classification needs 'text'", "lists of words"],
}

# Cases only the run can know (validate cannot read a Hub dataset offline); checked with `run` as well.
RUN_ONLY = {"data_hub_unreachable"}

# Command lines: argv (placeholders filled in) -> fragments.
CLI_CASES: dict[str, tuple[list[str], list[str]]] = {
    "set_value_not_yaml": (
        ["validate", "@GOOD@", "--set", "training.learning_rate=[1, 2"],
        ["--set training.learning_rate: the value '[1, 2' is not valid YAML", "quote it"],
    ),
    "set_without_equals": (["validate", "@GOOD@", "--set", "training.learning_rate"], ["expected KEY=VALUE"]),
    "set_empty_key_part": (["validate", "@GOOD@", "--set", "training..seed=1"], ["expected KEY=VALUE"]),
    "set_into_scalar": (["validate", "@GOOD@", "--set", "output_dir.x=1"], ["--set output_dir.x:", "not a mapping"]),
    "set_bad_index": (["validate", "@GOOD@", "--set", "stages.5.temperature=2"], ["'5' is not an index of stages"]),
    "set_makes_it_invalid": (
        ["validate", "@GOOD@", "--set", "stages.0.temperature=-1"],
        ["stages[0].temperature: input should be greater than 0"],
    ),
    "recipe_missing": (
        ["validate", "no-such-recipe-xyz"],
        ["no-such-recipe-xyz: no such recipe", "trimformer recipes"],
    ),
    "recipe_is_folder": (["validate", "@CORPUS@"], ["is a folder", "give a recipe file"]),
    "run_recipe_missing": (["run", "./missing.yaml"], ["./missing.yaml: no such recipe"]),
    "eval_data_bare_name": (
        ["eval", "@TEACHER@", "--data", "reviews.csv"],
        ["file not found: reviews.csv", "if you meant a Hub dataset id"],
    ),
    "eval_data_latin1": (["eval", "@TEACHER@", "--data", "@CORPUS@/data/latin1.csv"], ["latin1.csv is not UTF-8"]),
    "eval_data_empty": (["eval", "@TEACHER@", "--data", "@CORPUS@/data/empty.csv"], ["empty.csv is empty"]),
}


def test_every_corpus_file_has_an_expectation():
    files = {p.stem for p in (CORPUS / "recipes").glob("*.yaml")}
    assert files == set(RECIPE_CASES), files ^ set(RECIPE_CASES)
    assert len(RECIPE_CASES) + len(CLI_CASES) >= 70


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Tiny local model folders: a good teacher and the broken variants the corpus points at."""
    import tiny
    from transformers import BertForSequenceClassification

    root = tmp_path_factory.mktemp("models")
    tok = tiny.make_tokenizer()

    def save(name, model, tokenizer=tok) -> Path:
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        return root / name

    save("teacher", tiny.tiny_bert(0, layers=4, hidden=32, heads=4))
    named = {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}
    save("teacher_named", tiny.tiny_bert(0, layers=2, hidden=32, heads=4, **named))
    small = tiny.bert_config(layers=2, hidden=32, heads=4)
    small.vocab_size = 10  # the tokenizer has 35 tokens
    save("teacher_big_vocab", BertForSequenceClassification(small))
    (save("teacher_no_config", tiny.tiny_bert(0, layers=2, hidden=32)) / "config.json").unlink()
    (save("teacher_no_weights", tiny.tiny_bert(0, layers=2, hidden=32)) / "model.safetensors").unlink()
    remote = save("teacher_remote", tiny.tiny_bert(0, layers=2, hidden=32))
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_custom.CustomModel"}
    (remote / "config.json").write_text(json.dumps(config))
    other = tiny.make_tokenizer()
    other.add_tokens(["zebra", "giraffe"])
    wide = tiny.bert_config(layers=2, hidden=32, heads=4)
    wide.vocab_size = 40
    save("student_other_vocab", BertForSequenceClassification(wide), other)
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    distil = DistilBertConfig(vocab_size=35, dim=32, n_layers=4, n_heads=4, hidden_dim=64, max_position_embeddings=64)
    save("teacher_distilbert", DistilBertForSequenceClassification(distil))
    save("teacher_unigram", tiny.tiny_bert(0, layers=4, hidden=32), unigram_tokenizer())
    names = ["teacher", "teacher_named", "teacher_big_vocab", "teacher_no_config", "teacher_no_weights"]
    names += ["teacher_remote", "student_other_vocab", "teacher_distilbert", "teacher_unigram"]
    return {name.upper(): str(root / name) for name in names}


def unigram_tokenizer():
    """A small SentencePiece-style (Unigram) tokenizer, which vocabulary pruning does not support."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = [("[PAD]", 0.0), ("[UNK]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[MASK]", 0.0)]
    pieces += [(w, -1.0) for w in ("the", "film", "was", "good", "bad", "plot")]
    backend = Tokenizer(models.Unigram(pieces, unk_id=1))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )  # fmt: skip


def snapshot(*roots: Path) -> dict[str, int]:
    """Every file and folder under `roots` with its size: what 'writes nothing' compares."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                out[str(path)] = path.stat().st_size if path.is_file() else -1
    return out


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


@pytest.fixture
def case_dir(tmp_path, models, monkeypatch):
    """An empty working folder (relative paths resolve here) and the placeholder values for it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # A Hub lookup must not write a cache into the folders we watch.
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    values = {"OUT": str(work / "out"), "CORPUS": str(CORPUS), **models}
    good = work / "good.yaml"
    good.write_text(fill((CORPUS / "good.yaml").read_text(), values))
    values["GOOD"] = str(good)
    return work, values


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def assert_clean(code: int, err: list[str], fragments: list[str]) -> None:
    assert code == 2, (code, err)
    assert len(err) == 1, "\n".join(err)
    line = err[0]
    assert line.startswith("error: ") and "Traceback" not in line, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in: {line}"


def test_good_baseline_validates(case_dir, capsys):
    work, values = case_dir
    code, err = run_cli(["validate", values["GOOD"]], capsys)
    assert code == 0, err


@pytest.mark.parametrize("name", sorted(RECIPE_CASES))
def test_malformed_recipe(name, case_dir, models, capsys):
    work, values = case_dir
    recipe = work / "recipe.yaml"
    recipe.write_bytes(
        fill((CORPUS / "recipes" / f"{name}.yaml").read_bytes().decode("latin-1"), values).encode("latin-1")
    )
    watched = (work, CORPUS, Path(models["TEACHER"]).parent)
    before = snapshot(*watched)
    command = "run" if name in RUN_ONLY else "validate"
    if name in RUN_ONLY:
        assert run_cli(["validate", str(recipe)], capsys)[0] == 0  # validate cannot know offline: says valid
    code, err = run_cli([command, str(recipe)], capsys)
    assert_clean(code, err, RECIPE_CASES[name])
    if name not in RUN_ONLY:
        assert str(recipe) in err[0]  # validate's line names the recipe too
    assert snapshot(*watched) == before  # nothing written: no output folder, no cache, no partial files
    assert not (work / "out").exists()


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_malformed_command_line(name, case_dir, models, capsys):
    work, values = case_dir
    argv, fragments = CLI_CASES[name]
    watched = (work, CORPUS, Path(models["TEACHER"]).parent)
    before = snapshot(*watched)
    code, err = run_cli([fill(a, values) for a in argv], capsys)
    assert_clean(code, err, fragments)
    assert snapshot(*watched) == before


@pytest.mark.parametrize("name", ["data_stars_two_names"])
def test_run_subprocess_is_one_line_and_exit_2(name, case_dir, models):
    """The real process: exit status 2, the error as the last stderr line, no traceback, nothing written."""
    work, values = case_dir
    recipe = work / "recipe.yaml"
    recipe.write_text(fill((CORPUS / "recipes" / f"{name}.yaml").read_text(), values))
    before = snapshot(work)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "trimformer", "run", str(recipe)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(f in last for f in RECIPE_CASES[name]), last
    assert snapshot(work) == before


def test_internal_errors_keep_their_traceback_and_exit_1(case_dir, capsys, monkeypatch):
    """A ValueError from deep inside (a bug, not the user's input) is not dressed up as bad input."""
    import trimformer.recipe.load as load

    work, values = case_dir

    def broken(*args, **kwargs):
        raise ValueError("something inside broke")

    monkeypatch.setattr(load, "_check_files", broken)
    code = main(["validate", values["GOOD"]])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" in err and "something inside broke" in err
    assert "internal error: ValueError" in err.strip().splitlines()[-1]
