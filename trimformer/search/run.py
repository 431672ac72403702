"""`trimformer search RECIPE --budget latency_b1_ms=5`: the most accurate candidate that fits the budget.

1. time the smallest shapes; a budget below them is refused before any training (exit 2, the smallest figure);
2. time a sample of shapes, fit a latency/size model, time for real every capacity-maximal candidate it
   predicts within budget (a candidate counts as fitting only by its measured figures);
3. score those candidates zero-shot, then successive halving with short distillations (`halving`);
4. the winner gets the recipe's full distillation through the normal runner (OUTPUT/winner/, report, cards);
5. OUTPUT/search.json lists every candidate; OUTPUT/pareto.png plots accuracy against latency.
`--resume` reuses every measurement, score and checkpoint search.json records.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from trimformer.errors import UserInputError
from trimformer.loading import load_model
from trimformer.measure.timing import TimingSettings
from trimformer.recipe.load import LoadedRecipe
from trimformer.search import halving, latency
from trimformer.search.build import build_trainable, finish
from trimformer.search.config import SearchSection, budget_batch
from trimformer.search.space import Shape, enumerate_space, smallest, undominated
from trimformer.search.store import FILE, SearchLog, settings_key

# Fields that shape only the winner's run: changing them and passing --resume reruns the winner, nothing else.
WINNER_ONLY = ("compare", "recovery_steps")


class ImpossibleBudget(UserInputError):
    """The budget is below what the smallest candidate measured: nothing to search."""


_T0 = time.perf_counter()


def say(message: str) -> None:
    """Progress lines with the minutes since the search started (the lead reads where the time went)."""
    minutes = (time.perf_counter() - _T0) / 60
    print(f"[{minutes:5.1f} min] {message}", file=sys.stderr, flush=True)


def check_recipe(loaded: LoadedRecipe) -> Any:
    """The recipe's stages are one `distill` stage: the winner's full recovery distillation."""
    types = [e["type"] for e in loaded.raw["stages"]]
    if types != ["distill"]:
        raise UserInputError(
            f"{loaded.source}: a search recipe's stages are one distill stage (the winner's recovery "
            f"distillation; the search adds pruning and int8 itself), got {types}"
        )
    if loaded.recipe.student.model:
        raise UserInputError(
            f"{loaded.source}: student.model: the search cuts its students from the teacher; remove it"
        )
    return loaded.stages[0]


class Search:
    def __init__(self, loaded: LoadedRecipe, budget: dict[str, float], resume: bool, overwrite: bool):
        self.loaded, self.recipe = loaded, loaded.recipe
        self.section: SearchSection = self.recipe.search or SearchSection()
        self.budget_spec = {**self.section.budget, **budget}  # numbers, or "@PATH" (resolved by measuring)
        self.budget: dict[str, float] = {}
        if not self.budget_spec:
            raise UserInputError("search: no budget; pass --budget latency_b1_ms=5 (or set search.budget)")
        self.final = check_recipe(loaded)
        self._check_references()
        self.out = Path(self.recipe.output_dir)
        self.batch_sizes = tuple(sorted({1} | {b for k in self.budget_spec if (b := budget_batch(k))}))
        self.figure_keys = latency.figure_keys(self.batch_sizes)
        self.shapes: list[Shape] = []
        self.resume, self.overwrite = resume, overwrite
        self.started, self.before = time.perf_counter(), 0.0

    def _check_references(self) -> None:
        """A budget taken from an artefact needs that artefact: say so before anything loads."""
        from trimformer.loading import resolve_path

        for key, value in self.budget_spec.items():
            if isinstance(value, str) and not Path(resolve_path(value[1:])).is_dir():
                need = f"; this recipe needs: {self.recipe.prerequisite}" if self.recipe.prerequisite else ""
                raise UserInputError(f"budget {key}={value}: no saved artefact at {value[1:]}{need}")

    # -- set-up -------------------------------------------------------------------------------------------
    def open_log(self) -> SearchLog:
        from trimformer import resume as resume_mod

        path = self.out / FILE
        # The runner's rule: --overwrite replaces only a folder trimformer (a run or a search) wrote.
        if not (self.resume and path.is_file()) and resume_mod.check_output_dir(self.out, self.overwrite, False):
            shutil.rmtree(self.out)
        raw = {k: v for k, v in self.loaded.raw.items() if k not in ("search", "output_dir")}
        section = self.section.model_dump(exclude={"budget", *WINNER_ONLY})
        key = settings_key(raw, section, self.budget_spec)
        header = {"recipe_source": self.loaded.source, "budget_spec": self.budget_spec, "search": section}
        header["winner_settings"] = self.winner_settings()
        return SearchLog.open(path, key, self.resume, header)

    def winner_settings(self) -> dict[str, Any]:
        return self.section.model_dump(include=set(WINNER_ONLY))

    def timing(self) -> TimingSettings:
        m = self.recipe.measure
        return TimingSettings(
            batch_sizes=self.batch_sizes,
            length=m.length,
            threads=m.threads,
            rounds=self.section.rounds,
            calls=self.section.calls,
            devices=("cpu",),
            seed=self.recipe.seed,
        )

    def save(self) -> None:
        """search.json with the wall time so far (summed over resumed sessions)."""
        self.log.data["wall_time_s"] = round(self.before + time.perf_counter() - self.started, 1)
        self.log.save()

    # -- latency and size ---------------------------------------------------------------------------------
    def references(self) -> dict[str, str]:
        """{"@PATH": folder} of the budget's reference artefacts: timed in every pass with the candidates."""
        from trimformer.loading import resolve_path

        return {v: resolve_path(v[1:]) for v in self.budget_spec.values() if isinstance(v, str)}

    def measure(self, shapes: list[Shape], why: str, force: bool = False) -> None:
        """Time the shapes not yet timed, with the budget's references in the same pass: a latency taken from a
        reference is read as the paired ratio to it (`latency.paired_figure`), on the scale of the budget."""
        todo = [s for s in shapes if self.log.measured(s) is None]
        if not todo and not force:
            return
        refs = self.references()
        say(f"search: timing {len(todo) + len(refs)} model(s) ({why})")
        figures = self.time_with_references(todo, self.timing(), refs)
        for shape in todo:
            self.log.candidate(shape)["measured"] = figures[shape.key]
        for name, path in refs.items():
            self.log.data["budget_references"].setdefault(name, {"path": path, **figures[name]})
        self.log.data["measurement"] = self.timing().to_dict()
        self.save()

    def time_with_references(
        self, shapes: list[Shape], settings: TimingSettings, refs: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        """One interleaved pass over `shapes` and the budget's references; latencies budgeted from a reference are
        paired to it and converted with the budget's figure once that is known (the first pass sets it)."""
        pairs = self.pairs(refs)
        anchors = {k: self.budget[k] for k in pairs if k in self.budget}
        return latency.measure_shapes(
            self.state, shapes, settings, self.section.vocab_include_eval_text, say, refs, pairs, anchors
        )

    def pairs(self, references: dict[str, str]) -> dict[str, str]:
        """{latency key: reference name} for latency budgets taken from an artefact timed in this pass: candidates
        are judged by their paired ratio to it (`latency.paired_figure`), not by two separate medians."""
        return {
            k: v for k, v in self.budget_spec.items() if isinstance(v, str) and v in references and budget_batch(k)
        }

    def resolve_budget(self, tiny: list[Shape]) -> None:
        """Numbers as given; `@PATH` becomes what that artefact measures, timed with the smallest shapes (the
        anchor every later pass's paired figures convert with)."""
        refs = self.references()
        reference_figures = self.log.data.setdefault("budget_references", {})
        missing = any(name not in reference_figures for name in refs)
        if missing or any(self.log.measured(s) is None for s in tiny):
            self.measure(tiny, "the smallest shapes" + (" with the budget's reference" if refs else ""), missing)
        for key, value in self.budget_spec.items():
            self.budget[key] = float(value) if not isinstance(value, str) else reference_figures[value][key]
        self.log.data["budget"] = self.budget
        self.save()

    def refuse_if_impossible(self) -> None:
        tiny = smallest(self.shapes)
        self.resolve_budget(tiny)
        if any(latency.within(self.log.measured(s), self.budget) for s in tiny):
            return
        parts = []
        for key, limit in self.budget.items():
            best = min(tiny, key=lambda s: self.log.measured(s)[key])
            parts.append(
                f"{key}={limit:g} but the smallest measured {self.log.measured(best)[key]:g} ({best.describe()})"
            )
        self.log.data["status"] = "refused"
        self.save()
        raise ImpossibleBudget(
            f"budget cannot be met: {'; '.join(parts)}; raise the budget or widen search (depths, heads_keep, "
            "ffn_keep, int8)"
        )

    def figures(self, shape: Shape) -> dict[str, float] | None:
        return self.log.measured(shape) or self.log.candidate(shape).get("predicted")

    def shortlist(self) -> list[Shape]:
        """Capacity-maximal candidates that fit as measured (see module docstring, step 2)."""
        sample = latency.design_sample(self.shapes, self.section.timed_shapes, self.recipe.seed, smallest(self.shapes))
        self.measure(sample, "a sample to fit the latency and size model")
        measured = [s for s in sample if self.log.measured(s)]  # the sample only: a resumed search fits the same
        fitted = latency.FittedModel.fit(measured, {s.key: self.log.measured(s) for s in measured}, self.figure_keys)
        self.log.data["fitted_model"] = fitted.to_dict()
        for shape in self.shapes:
            prediction = fitted.predict(shape)
            if prediction is not None:
                self.log.candidate(shape)["predicted"] = prediction
        while True:
            pool = []
            for s in self.shapes:
                m = self.decisive(s)
                fits = (
                    latency.within(m, self.budget)
                    if m
                    else latency.within(self.figures(s) or {}, self.budget, self.section.slack)
                )
                self.log.candidate(s)["fits"] = fits if m else None
                if fits:
                    pool.append(s)
            front = undominated(pool)
            untimed = [s for s in front if not self.log.measured(s)]
            if not untimed:
                break
            room = self.section.max_timed - sum(1 for s in self.shapes if self.log.measured(s))
            if room <= 0:  # timing budget spent: what was never timed cannot be shown to fit
                front = undominated([s for s in pool if self.log.measured(s)])
                for s in untimed:
                    self.log.candidate(s)["note"] = "not timed: search.max_timed reached"
                say(f"search: max_timed={self.section.max_timed} reached; {len(untimed)} candidate(s) left untimed")
                break
            self.measure(untimed[:room], "predicted within budget, largest of their kind")
        for s in self.shapes:
            entry = self.log.candidate(s)
            entry["status"] = (
                "shortlisted"
                if s in front
                else (
                    "over budget"
                    if entry["fits"] is False
                    else ("dominated" if entry["fits"] or s in pool else "predicted over budget")
                )
            )
        self.save()
        return front

    def confirm(self, shortlist: list[Shape]) -> list[Shape]:
        """One more interleaved pass, over the shortlist and the budget's reference artefact together, with more
        rounds and calls: what goes on to training fits by its paired ratio to the reference in this pass."""

        passes = self.log.data.setdefault("confirmations", [])
        done = next((p for p in passes if set(p["figures"]) == {s.key for s in shortlist}), None)
        if done is None:
            refs = self.references()
            m = self.recipe.measure
            settings = self.timing()
            settings.rounds, settings.calls = max(m.rounds, settings.rounds), max(m.repeats, settings.calls)
            say(
                f"search: confirming {len(shortlist)} candidate(s) in one pass"
                + (" with the reference" if refs else "")
            )
            figures = self.time_with_references(shortlist, settings, refs)
            done = {"figures": {s.key: figures[s.key] for s in shortlist}}
            done["references"] = {name: figures[name] for name in refs}
            passes.append(done)
        keep = [s for s in shortlist if latency.within(done["figures"][s.key], self.budget)]
        for shape in shortlist:
            self.log.candidate(shape)["confirmed"] = done["figures"][shape.key]
            if shape not in keep:
                self.log.candidate(shape)["status"] = "over budget (confirmation pass)"
        self.save()
        return keep

    def confirmed_shortlist(self, attempts: int = 4) -> list[Shape]:
        """Shortlist, confirm, and again while the confirmation pass drops candidates (what they dominated may
        fit). A candidate's confirmed figures replace its first ones in every later decision."""
        for _ in range(attempts):
            front = self.shortlist()
            keep = self.confirm(front)
            if len(keep) == len(front):
                return keep
        if keep:
            return keep
        # every figure moved over the line each time: go on with the one closest to it, and say so
        closest = min(front, key=lambda s: max(self.decisive(s)[k] / v for k, v in self.budget.items()))
        self.log.candidate(closest)["status"] = "shortlisted (closest to the budget in the confirmation pass)"
        say(f"search: warning: no candidate fits in the confirmation pass; going on with {closest.describe()}")
        return [closest]

    def decisive(self, shape: Shape) -> dict[str, float] | None:
        """The figures decisions use: the confirmation pass's when there was one, else the first measurement."""
        entry = self.log.candidate(shape)
        return entry.get("confirmed") or entry.get("measured")

    # -- accuracy -----------------------------------------------------------------------------------------
    def model_for(self, shape: Shape, steps: int, cache: dict[str, Any]) -> tuple[Any, Any]:
        """The trainable shape trained `steps` steps in total (from memory, its checkpoint, or trained now)."""
        record = self.log.trainable(shape)
        key = record["key"]
        if key in cache and record["steps"] == steps:
            return cache[key]
        if record["checkpoint"] and Path(record["checkpoint"]).is_dir() and record["steps"] <= steps:
            model = load_model(record["checkpoint"], self.state.task.auto_class).eval()
            pair = (model, self.state.teacher_tokenizer)
            done = record["steps"]
        else:
            pair, done = build_trainable(self.state, shape), 0
        if steps > done:
            model = halving.train_more(
                self.state, pair[0], steps - done, self.final, self.selection.train, f"search-{key}"
            )
            pair = (model, self.state.teacher_tokenizer)
            folder = self.out / ".search" / key
            from trimformer.runner import save_stage

            save_stage(model, pair[1], folder)
            record.update(steps=steps, checkpoint=str(folder))
            self.bar_steps.update(steps - done)
            self.save()
        cache[key] = pair
        return pair

    def score_rung(self, shapes: list[Shape], rung: int) -> list[Shape]:
        """Score every candidate at `rung` (skipping those already scored); best first."""
        steps = halving.cumulative_steps(rung, self.section.rung_steps, self.section.eta)
        cache: dict[str, Any] = {}
        for shape in tqdm(shapes, desc=f"rung {rung} ({steps} steps)", unit="cand", file=sys.stderr):
            entry = self.log.candidate(shape)
            if str(rung) in entry["rungs"]:
                continue
            model, tokenizer = self.model_for(shape, steps, cache)
            float_score = halving.score(self.state, model, tokenizer, self.selection.raw)
            value = float_score
            if rung > 0:  # what vocabulary pruning / int8 cost a trained model (meaningless before training)
                final_model, final_tok = finish(
                    self.state, shape, model, tokenizer, self.section.vocab_include_eval_text
                )
                if final_model is not model:
                    value = halving.score(self.state, final_model, final_tok, self.selection.raw)
            entry["rungs"][str(rung)] = {
                "steps": steps,
                "accuracy": round(value, 5),
                "float_accuracy": round(float_score, 5),
            }
            entry["estimated_accuracy"], entry["steps_spent"] = round(value, 5), steps
            self.save()
        return sorted(shapes, key=lambda s: self._rank_key(s, rung))

    def _rank_key(self, shape: Shape, rung: int) -> tuple:
        entry = self.log.candidate(shape)
        first = self.figure_keys[0]
        figures = entry.get("confirmed") or entry["measured"]
        return (-entry["rungs"][str(rung)]["accuracy"], shape.lossiness(), figures[first])

    def halve(self, shortlist: list[Shape]) -> Shape:
        s = self.section
        total = halving.planned_steps(len(shortlist), s.candidates, s.rung_steps, s.eta)
        self.bar_steps = tqdm(total=total, desc="training steps (search budget)", unit="step", file=sys.stderr)
        self.bar_steps.update(sum(t["steps"] for t in self.log.data["trainables"].values()))
        ranked = self.score_rung(shortlist, 0)
        current, rung = halving.next_rung(ranked, 1, s.candidates, s.eta), 1
        while len(current) > 1:
            for shape in ranked:
                if shape not in current and "halted" not in self.log.candidate(shape):
                    self.log.candidate(shape)["halted"] = f"after rung {rung - 1}"
            ranked = self.score_rung(current, rung)
            accuracy = {c: self.log.candidate(c)["rungs"][str(rung)]["accuracy"] for c in ranked}
            current = halving.survivors(ranked, accuracy, rung, s.eta)
            rung += 1
        for shape in ranked:
            if shape not in current and "halted" not in self.log.candidate(shape):
                self.log.candidate(shape)["halted"] = f"after rung {rung - 1}"
        self.bar_steps.close()
        return current[0]

    # -- the whole search ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from trimformer.measure.runtime import try_single_interop_thread
        from trimformer.runner import build_state

        global _T0
        _T0 = time.perf_counter()
        try_single_interop_thread()
        self.log = self.open_log()
        self.before = float(self.log.data.get("wall_time_s") or 0)
        if self.log.data.get("status") == "done":
            if self.log.data.get("winner_settings") == self.winner_settings():
                say(f"search: {self.out / FILE} is finished already (winner in {self.out / 'winner'})")
                return self.log.data
            # Only the winner's run changed (recovery_steps, compare): candidates and rungs stand, the winner reruns.
            say(f"search: the winner's settings changed ({self.winner_settings()}); running the winner again")
            self.log.data.update(status="final", winner_settings=self.winner_settings())
            self.budget = dict(self.log.data.get("budget") or {})
            self.finish(Shape.from_dict(self.log.data["winner"]["shape"]))
            return self.log.data
        self.state = build_state(self.loaded)
        self.state.output_dir = self.out
        self.shapes = enumerate_space(self.section, self.state.teacher.config.num_hidden_layers)
        for shape in self.shapes:
            self.log.candidate(shape)
        self.log.data.update(status="timing", space_size=len(self.shapes))
        self.save()
        self.refuse_if_impossible()
        shortlist = self.confirmed_shortlist()
        say(f"search: {len(shortlist)} candidate(s) fit the budget as measured and are not dominated")
        self.selection = halving.Selection.carve(self.state, self.section.selection_examples, self.recipe.seed)
        self.log.data.update(status="training", selection_examples=len(self.selection.raw))
        winner = self.halve(shortlist)
        self.log.candidate(winner)["status"] = "winner"
        self.log.data.update(status="final", winner={"key": winner.key, "shape": winner.to_dict()})
        self.save()
        say(f"search: winner {winner.describe()}; full distillation through the normal run path")
        self.finish(winner)
        return self.log.data

    def check_against_references(self) -> dict[str, Any] | None:
        verdict = _same_pass_verdict(self.log.data, self.budget_spec)
        if verdict is not None:
            self.log.data["winner"]["same_pass_as_reference"] = verdict
            say(f"search: winner vs the budget's reference, one timing pass: {verdict}")
        return verdict

    def finish(self, winner: Shape) -> None:
        from trimformer.search import compare, plot
        from trimformer.search.winner import figures_of, final_entry, run_winner, winner_recipe

        self.__dict__.pop("state", None)  # free the teacher and data before the winner's run loads its own
        folder = self.out / "winner"
        recipe = winner_recipe(
            self.loaded.raw,
            winner,
            folder,
            list(self.batch_sizes),
            self.section.vocab_include_eval_text,
            self.section.recovery_steps,
        )
        report = run_winner(recipe, self.loaded.source, self.out / "winner.yaml")
        entry = final_entry(report)
        metric = report["main_metric"]
        measured = figures_of(entry, list(self.batch_sizes))
        record = self.log.candidate(winner)
        record["final"] = {
            "accuracy": entry["metrics"].get(metric),
            "metric": metric,
            "path": entry["path"],
            **measured,
        }
        record["steps_spent"] = record.get("steps_spent", 0)
        checks = {k: measured.get(k) is not None and measured[k] <= v for k, v in self.budget.items()}
        self.log.data["winner"].update(final=record["final"], report=str(folder / "report.json"))
        refs = list(self.section.compare) + list(getattr(self, "extra_compare", []))
        refs += [v[1:] for v in self.budget_spec.values() if isinstance(v, str) and v[1:] not in refs]
        if refs:
            self.log.data["comparison"] = compare.compare(report, entry, refs, self.recipe, self.batch_sizes)
            # A budget taken from an artefact is judged in the pass that timed both (other passes ran under
            # other machine load); a number, by the winner run's own measurement.
            for key, result in (self.check_against_references() or {}).items():
                checks[key] = result["ok"]
        ok = all(checks.values())
        self.log.data["winner"].update(within_budget=ok, budget_checks=checks)
        if not ok:
            say(f"search: warning: the winner measured over the budget: {measured} vs {self.budget} ({checks})")
        shutil.rmtree(self.out / ".search", ignore_errors=True)
        shutil.rmtree(self.out / ".work", ignore_errors=True)  # the rungs' trainer folders
        for t in self.log.data["trainables"].values():
            t["checkpoint"] = None
        self.log.data.update(status="done")
        self.save()
        plot.pareto(self.log.data, self.out / "pareto.png")
        say(f"search: {self.out / FILE}, {self.out / 'pareto.png'}, winner run {folder}")


def _same_pass_verdict(data: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """For a budget taken from an artefact: does the winner beat it in the comparison pass (same load, same
    interleaved rounds)? {key: {winner, reference, ok}}; None without such a budget."""
    rows = {m["path"]: m for m in (data.get("comparison") or {}).get("models", [])}
    winner = ((data.get("comparison") or {}).get("models") or [None])[0]
    from trimformer.loading import resolve_path

    out = {}
    for key, value in spec.items():
        ref = rows.get(resolve_path(value[1:])) if isinstance(value, str) else None
        if ref is not None and winner is not None and ref.get(key) is not None and winner.get(key) is not None:
            verdict = {"winner": winner[key], "reference": ref[key], "ok": winner[key] <= ref[key]}
            speedup = ref.get(f"winner_speedup_b{budget_batch(key)}") if budget_batch(key) else None
            if speedup is not None:  # latency: the paired ratio decides (two medians drift apart under load)
                verdict.update(winner_speedup=speedup, ok=speedup >= 1.0)
            out[key] = verdict
    return out or None


def run_search(
    loaded: LoadedRecipe,
    budget: dict[str, float] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    compare: list[str] | None = None,
) -> dict[str, Any]:
    search = Search(loaded, budget or {}, resume, overwrite)
    search.extra_compare = compare or []
    return search.run()
