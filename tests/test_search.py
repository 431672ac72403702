"""Budget search on a tiny random BERT: the winner fits the budget as measured, an impossible budget is refused
before any training, search.json lists every candidate, and --resume redoes nothing that was finished."""

from __future__ import annotations

import json

import pytest
import yaml

from trimformer.cli import main
from trimformer.search.config import SearchSection, parse_budget
from trimformer.search.space import Shape, dominates, enumerate_space, layer_choices

SEARCH = {
    "depths": [1, 2],
    "layer_patterns": ["spread"],
    "heads_keep": [1.0, 0.5],
    "ffn_keep": [1.0, 0.5],
    "vocab": [False, True],
    "int8": [False, True],
    "timed_shapes": 6,
    "candidates": 3,
    "rung_steps": 2,
    "recovery_steps": 2,
    "selection_examples": 40,
    "rounds": 2,
    "calls": 2,
}


def search_recipe(root, **search):
    recipe = {
        "name": "tiny-search",
        "output_dir": str(root / "out"),
        "seed": 1,
        "data": {"path": str(root / "data.csv.gz"), "max_length": 16},
        "teacher": {"model": str(root / "teacher")},
        "training": {"per_device_train_batch_size": 16, "learning_rate": 2e-3, "logging_steps": 5},
        "stages": [{"type": "distill", "control": False, "training": {"max_steps": 4}}],
        "measure": {"threads": 1, "rounds": 2, "repeats": 2, "length": 16, "batch_sizes": [1]},
        "search": {**SEARCH, **search},
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_space_and_budget_parsing():
    assert parse_budget(["latency_b1_ms=5,size_mb=20", "latency_b32_ms=40"]) == {
        "latency_b1_ms": 5.0,
        "size_mb": 20.0,
        "latency_b32_ms": 40.0,
    }
    for bad in ("latency_ms=5", "size_mb=-1", "size_mb=abc", "size_mb"):
        with pytest.raises(ValueError, match="--budget"):
            parse_budget([bad])
    assert layer_choices(6, 3, ["spread", "bottom", "top"]) == [(0, 2, 4), (0, 1, 2), (1, 3, 5)]
    shapes = enumerate_space(SearchSection(**SEARCH), 4)
    assert len(shapes) == 2 * 2 * 2 * 2 * 2 and len({s.key for s in shapes}) == len(shapes)
    big, small = Shape((0, 2), 1.0, 1.0, False, False), Shape((0,), 0.5, 1.0, False, False)
    assert dominates(big, small) and not dominates(small, big)
    assert not dominates(Shape((0, 2), 1.0, 1.0, False, True), small)  # int8 may cost accuracy: no dominance


def _read(root):
    return json.loads((root / "out" / "search.json").read_text())


def test_winner_fits_budget_as_measured_and_every_candidate_is_listed(tiny_run):
    recipe = search_recipe(tiny_run)
    assert main(["search", str(recipe), "--budget", "size_mb=0.2,latency_b1_ms=1000"]) == 0
    data = _read(tiny_run)
    assert data["status"] == "done"
    assert len(data["candidates"]) == 32  # every shape of the space, timed or not
    for entry in data["candidates"].values():
        assert {"shape", "rungs", "status"} <= set(entry)
        assert entry.get("measured") or entry.get("predicted")
    scored = [c for c in data["candidates"].values() if c["rungs"]]
    assert len(scored) >= 2 and any(c["steps_spent"] > 0 for c in scored)  # halving trained some of them
    for c in scored:  # only candidates that fit as measured are ever trained
        assert c["measured"]["size_mb"] <= 0.2 and c["measured"]["latency_b1_ms"] <= 1000
    winner = data["winner"]
    assert winner["within_budget"] and winner["final"]["size_mb"] <= 0.2
    assert winner["final"]["latency_b1_ms"] <= 1000
    report = json.loads((tiny_run / "out" / "winner" / "report.json").read_text())
    final = [m for m in report["models"] if m["role"] == "stage"][-1]
    assert final["size_mb"] <= 0.2 and final["latency"]["cpu"]["batches"]["b1"]["median_ms"] <= 1000
    assert (tiny_run / "out" / "pareto.png").stat().st_size > 0
    assert (tiny_run / "out" / "winner.yaml").is_file()


def test_impossible_budget_is_refused_before_training(tiny_run, monkeypatch, capsys):
    from trimformer.search import halving

    def no_training(*args, **kwargs):
        raise AssertionError("trained despite an impossible budget")

    monkeypatch.setattr(halving, "train_more", no_training)
    recipe = search_recipe(tiny_run)
    assert main(["search", str(recipe), "--budget", "latency_b1_ms=0.0001"]) == 2
    err = capsys.readouterr().err
    assert "budget cannot be met: latency_b1_ms=0.0001 but the smallest measured" in err
    data = _read(tiny_run)
    assert data["status"] == "refused"
    assert not (tiny_run / "out" / "winner").exists() and not (tiny_run / "out" / ".work").exists()


def test_resume_continues_without_redoing_finished_candidates(tiny_run, monkeypatch):
    from trimformer.search import halving, latency

    real_train, real_measure = halving.train_more, latency.measure_shapes
    trained: list[tuple[str, int]] = []
    timed: list[int] = []

    def stop_on_second(state, model, steps, final, train, name):
        if len(trained) == 1:
            raise RuntimeError("stopped")
        trained.append((name, steps))
        return real_train(state, model, steps, final, train, name)

    monkeypatch.setattr(halving, "train_more", stop_on_second)
    recipe = search_recipe(tiny_run)
    budget = ["--budget", "size_mb=0.2"]
    assert main(["search", str(recipe), *budget]) == 1  # the "crash"
    stopped = _read(tiny_run)
    assert stopped["status"] == "training"
    first = trained[0]
    scored_before = {k: c["rungs"] for k, c in stopped["candidates"].items() if c["rungs"]}

    def counting_measure(*args, **kwargs):
        timed.append(1)
        return real_measure(*args, **kwargs)

    resumed: list[tuple[str, int]] = []

    def counting_train(state, model, steps, final, train, name):
        resumed.append((name, steps))
        return real_train(state, model, steps, final, train, name)

    monkeypatch.setattr(halving, "train_more", counting_train)
    monkeypatch.setattr(latency, "measure_shapes", counting_measure)
    assert main(["search", str(recipe), *budget, "--resume"]) == 0
    data = _read(tiny_run)
    assert data["status"] == "done" and data["resumed"] == 1
    assert timed == []  # every candidate timing came from search.json
    # The finished training is not redone: that candidate goes on from its checkpoint if it trains again.
    assert first not in resumed
    assert resumed[0][0] != first[0]
    for key, rungs in scored_before.items():  # nor any finished score
        assert {r: data["candidates"][key]["rungs"][r] for r in rungs} == rungs
    # another budget is another search: refused rather than mixed
    assert main(["search", str(recipe), "--budget", "size_mb=0.3", "--resume"]) == 2
    # a setting of the winner's run only: --resume reruns the winner and nothing else
    resumed.clear()
    winner_yaml = tiny_run / "out" / "winner.yaml"
    before = winner_yaml.read_text()
    changed = search_recipe(tiny_run, recovery_steps=3)
    assert main(["search", str(changed), *budget, "--resume"]) == 0
    again = _read(tiny_run)
    assert resumed == [] and timed == [] and again["status"] == "done"
    assert again["winner"]["key"] == data["winner"]["key"] and again["winner_settings"]["recovery_steps"] == 3
    after = winner_yaml.read_text()
    assert ("max_steps: 3" in after) == ("prune_" in after) and ("max_steps: 3" not in before)


def test_budget_from_a_reference_artefact_is_measured_in_the_same_pass_and_compared(tiny_run):
    import tiny

    reference = tiny_run / "reference"
    tiny.tiny_bert(3, layers=3, hidden=64).save_pretrained(reference)
    tiny.make_tokenizer().save_pretrained(reference)
    recipe = search_recipe(tiny_run, depths=[1, 2], heads_keep=[1.0], ffn_keep=[1.0], vocab=[False], int8=[False])
    assert main(["search", str(recipe), "--budget", f"size_mb=@{reference}"]) == 0
    data = _read(tiny_run)
    measured = data["budget_references"][f"@{reference}"]
    assert data["budget"] == {"size_mb": measured["size_mb"]} and measured["latency_b1_ms"] > 0
    names = [m["name"] for m in data["comparison"]["models"]]
    assert names[0] == "search winner" and len(names) == 2
    assert all(m["accuracy"] is not None and m["latency_b1_ms"] for m in data["comparison"]["models"])
    assert data["winner"]["within_budget"]
    assert data["winner"]["same_pass_as_reference"]["size_mb"]["ok"]


def test_latency_budget_from_a_reference_is_judged_by_paired_calls(tiny_run):
    import tiny

    reference = tiny_run / "reference"
    tiny.tiny_bert(3, layers=3, hidden=64).save_pretrained(reference)
    tiny.make_tokenizer().save_pretrained(reference)
    recipe = search_recipe(tiny_run, depths=[1], heads_keep=[1.0], ffn_keep=[1.0], vocab=[False], int8=[False])
    assert main(["search", str(recipe), "--budget", f"latency_b1_ms=@{reference}"]) == 0
    data = _read(tiny_run)
    (entry,) = data["candidates"].values()
    assert "latency_b1_ms_ratio_vs_reference" in entry["measured"]  # every pass times the reference with them
    figures = entry["confirmed"]
    ratio = figures["latency_b1_ms_ratio_vs_reference"]
    # the candidate's figure is the reference's median over the paired ratio, the plain median kept beside it
    assert figures["latency_b1_ms"] == pytest.approx(data["budget"]["latency_b1_ms"] / ratio, rel=1e-3)
    assert figures["latency_b1_ms_unpaired"] > 0
    verdict = data["winner"]["same_pass_as_reference"]["latency_b1_ms"]
    assert verdict["ok"] == (verdict["winner_speedup"] >= 1.0)


def test_paired_figure_ignores_load_that_hits_both_models():
    from trimformer.search.latency import paired_figure

    load = [1.0, 6.0, 1.5]  # a busy machine: each round 1-6x slower, the candidate always half the reference
    reference_calls = [[2.0 * f, 2.1 * f, 1.9 * f] for f in load]
    calls = [[1.0 * f, 1.05 * f, 0.95 * f] for f in load]
    reference = {"median_ms": 3.0, "calls_ms": reference_calls}
    candidate = {"median_ms": 1.5 * 2.2, "calls_ms": calls}  # a median from a worse moment than the reference's
    out = paired_figure("latency_b1_ms", reference, candidate)
    assert out["latency_b1_ms_ratio_vs_reference"] == pytest.approx(2.0)
    assert out["latency_b1_ms"] == pytest.approx(1.5) and out["latency_b1_ms_ratio_supported"]
    assert out["latency_b1_ms_unpaired"] == pytest.approx(3.3)


def test_search_section_is_validated_with_the_recipe(tmp_path):
    from trimformer.errors import UserInputError
    from trimformer.recipe import load_recipe

    demo = load_recipe("demo-search", check_files=False)  # its files exist after `trimformer run demo`
    assert demo.recipe.search.budget == {"latency_b1_ms": "@./runs/demo-compress/quantize"}
    assert demo.raw["stages"][0]["type"] == "distill"
    for change, where in (
        ("search.heads_keep=[1.5]", "search.heads_keep"),
        ("search.budget={latency_ms: 3}", "search.budget"),
        ("search.cadidates=3", "did you mean 'candidates'"),
    ):
        with pytest.raises(UserInputError, match=where.replace("[", r"\[")):
            load_recipe("demo-search", [change], check_files=False)


def test_run_on_a_search_recipe_runs_the_search(tiny_run, monkeypatch):
    import trimformer.search.run as search_run

    calls = []
    monkeypatch.setattr(search_run, "run_search", lambda loaded, **kw: calls.append((loaded.recipe.name, kw)))
    assert main(["run", str(search_recipe(tiny_run, budget={"size_mb": 1.0}))]) == 0
    assert calls == [("tiny-search", {"overwrite": False, "resume": False})]
    assert not (tiny_run / "out").exists()


def test_schedule_and_latency_model():
    from trimformer.search import halving, latency

    assert [halving.cumulative_steps(r, 40, 2) for r in range(4)] == [0, 40, 120, 280]
    assert halving.planned_steps(20, 8, 40, 2) == 8 * 40 + 4 * 80 + 2 * 160
    assert halving.planned_steps(1, 8, 40, 2) == 0  # one candidate: no rungs, it is the winner
    assert halving.next_rung(list("abcdefghij"), 1, 8, 2) == list("abcdefgh")
    assert halving.next_rung(list("abcde"), 2, 8, 2) == list("abc")
    # a tie at the cut (all still at the majority class) trains everyone one rung more, until MAX_TIED_RUNGS
    tied = {"a": 0.59, "b": 0.59, "c": 0.59, "d": 0.5}
    assert halving.survivors(list("abcd"), tied, 1, 2) == list("abc")
    assert halving.survivors(list("ab"), {"a": 0.59, "b": 0.59}, 1, 2) == list("ab")
    assert halving.survivors(list("ab"), {"a": 0.59, "b": 0.59}, halving.MAX_TIED_RUNGS - 1, 2) == ["a"]
    assert halving.survivors(list("abcd"), {"a": 0.8, "b": 0.7, "c": 0.6, "d": 0.6}, 1, 2) == list("ab")
    shapes = enumerate_space(SearchSection(**SEARCH), 4)
    truth = {s.key: {"latency_b1_ms": 0.5 + 2 * s.depth * s.heads_keep + s.depth * s.ffn_keep} for s in shapes}
    sample = latency.design_sample(shapes, 12, seed=0, always=[shapes[0]])
    assert len(sample) == 12 and shapes[0] in sample
    fitted = latency.FittedModel.fit(sample, truth, ["latency_b1_ms"])
    for s in shapes:  # a cost that is linear in the features is recovered exactly
        assert fitted.predict(s)["latency_b1_ms"] == pytest.approx(truth[s.key]["latency_b1_ms"], abs=1e-3)


def test_winner_trains_at_full_width_then_prunes_with_recovery(tmp_path):
    from trimformer.search.winner import winner_recipe

    raw = {"name": "s", "stages": [{"type": "distill", "training": {"num_train_epochs": 2}}], "search": {}}
    shape = Shape((0, 2), 0.5, 0.75, True, True)
    recipe = winner_recipe(raw, shape, tmp_path / "w", [1], eval_text=True, recovery_steps=7)
    assert [s["type"] for s in recipe["stages"]] == ["distill", "prune_heads", "prune_ffn", "prune_vocab", "quantize"]
    heads, ffn = recipe["stages"][1], recipe["stages"][2]
    assert (heads["amount"], ffn["amount"]) == (0.5, 0.25)
    assert heads["recovery"] == ffn["recovery"] == {"training": {"max_steps": 7}}
    assert [s.get("save", True) for s in recipe["stages"]] == [False, False, False, False, True]
    assert recipe["student"] == {"init": "layers", "layers": [0, 2]} and "search" not in recipe
    float_only = winner_recipe(raw, Shape((0,), 0.5, 1.0, False, False), tmp_path / "w", [1], False)
    assert [(s["type"], s.get("save", True)) for s in float_only["stages"]] == [
        ("distill", False),
        ("prune_heads", True),
    ]
    unpruned = winner_recipe(raw, Shape((0,), 1.0, 1.0, False, True), tmp_path / "w", [1], False)
    assert [s["type"] for s in unpruned["stages"]] == ["distill", "quantize"]


def test_the_search_trains_candidates_and_the_winner_without_an_assistant(tmp_path):
    """An assistant is sized for the recipe's student: candidates would pay for a deeper run each, and the
    winner's layers need not be among the assistant's."""
    from trimformer.search.halving import rung_config
    from trimformer.search.winner import winner_recipe
    from trimformer.stages.distill import DistillStage

    stage = DistillStage(assistant={"layers": [0, 1, 2, 3]}, augment={"n_variants": 2})
    assert rung_config(stage, 50).assistant is None
    raw = {"stages": [{"type": "distill", "assistant": {"layers": [0, 1, 2, 3]}}]}
    shape = Shape(layers=(0, 5), heads_keep=1.0, ffn_keep=1.0, vocab=False, int8=False)
    recipe = winner_recipe(raw, shape, tmp_path, [1], eval_text=False)
    (distill,) = [s for s in recipe["stages"] if s["type"] == "distill"]
    assert "assistant" not in distill and recipe["student"]["layers"] == [0, 5]


def test_building_a_vocabulary_pruned_candidate_leaves_the_run_state_as_it_was(tiny_run):
    """Timing and rungs build candidates through the stage code, which swaps state.model/state.tokenizer. A
    vocabulary-pruned candidate's tokenizer left behind made every later candidate train on remapped ids (the demo
    search's candidates all stuck at one class)."""
    from trimformer.recipe.load import load_recipe
    from trimformer.runner import build_state
    from trimformer.search.build import build_trainable, finish

    state = build_state(load_recipe(str(search_recipe(tiny_run))))
    model_before, tokenizer_before = state.model, state.tokenizer
    shape = Shape(layers=(0, 2), heads_keep=0.5, ffn_keep=0.5, vocab=True, int8=False)
    model, tokenizer = build_trainable(state, shape, importance="magnitude")
    final_model, final_tokenizer = finish(state, shape, model, tokenizer)
    assert len(final_tokenizer) < len(tokenizer_before)  # the candidate did get a smaller vocabulary
    assert state.tokenizer is tokenizer_before and state.model is model_before
