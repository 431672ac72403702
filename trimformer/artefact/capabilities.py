"""What each stage requires of the model and what it takes away: the one table behind order checks.

A model starts with every capability in `INITIAL`. Each stage (pruning, quantization, LoRA, training)
declares an `Effect`: the capabilities it needs, those it removes and those it adds. Checking a recipe is
replaying the effects in order: the first stage whose needs are missing is rejected, naming the earlier
stage that removed what it needs, why, and an order that works. No torch import here: `trimformer
validate` stays fast.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from trimformer.errors import UserInputError

TORCH = "torch"  # a PyTorch module (not an exported ONNX Runtime graph)
FLOAT_LINEARS = "float_linears"  # encoder Linear weights are plain float tensors
FLOAT_EMBEDDINGS = "float_embeddings"  # word embeddings are a float nn.Embedding
DENSE_LINEARS = "dense_linears"  # encoder projections are single nn.Linear layers (not low-rank pairs)
PEFT_LINEARS = "peft_linears"  # Linear layers peft can wrap (float or bitsandbytes)
NO_ADAPTERS = "no_adapters"  # not wrapped in LoRA adapters
ADAPTERS = "adapters"  # wrapped in LoRA adapters (what merge needs)
TEACHER_READS_IDS = "teacher_reads_ids"  # the run's teacher can be fed this model's inputs

INITIAL = frozenset(
    {TORCH, FLOAT_LINEARS, FLOAT_EMBEDDINGS, DENSE_LINEARS, PEFT_LINEARS, NO_ADAPTERS, TEACHER_READS_IDS}
)
# When several are missing, the first of these names the real obstacle (an ONNX graph before "not float").
PRIORITY = [
    TORCH,
    NO_ADAPTERS,
    ADAPTERS,
    FLOAT_LINEARS,
    FLOAT_EMBEDDINGS,
    DENSE_LINEARS,
    PEFT_LINEARS,
    TEACHER_READS_IDS,
]

# What a stage that removed the capability did (completes "<stage> ..."), used in error messages.
LOST = {
    TORCH: "exported the model to an ONNX Runtime graph, which nothing can change afterwards",
    FLOAT_LINEARS: "quantized the Linear weights, and this stage needs float weights",
    FLOAT_EMBEDDINGS: "quantized the word embeddings, and this stage needs float embeddings",
    DENSE_LINEARS: "factored the Linear layers into low-rank pairs, and this stage needs the dense layers",
    PEFT_LINEARS: "replaced the Linear layers with int8 kernels that peft cannot wrap",
    NO_ADAPTERS: "wrapped the model in LoRA adapters; merge them first",
    TEACHER_READS_IDS: "pruned the vocabulary, so the teacher (old vocabulary) cannot read the student's ids; "
    "only sequence classification lets the teacher tokenize for itself",
}
# Needed capabilities that no earlier stage removed but none provided either.
NEVER_PROVIDED = {ADAPTERS: "merge needs a lora stage before it (there is no LoRA adapter to merge)"}


@dataclass(frozen=True)
class Effect:
    requires: frozenset[str] = frozenset()
    removes: frozenset[str] = frozenset()
    adds: frozenset[str] = frozenset()

    @classmethod
    def of(cls, requires: Sequence[str] = (), removes: Sequence[str] = (), adds: Sequence[str] = ()) -> Effect:
        return cls(frozenset(requires), frozenset(removes), frozenset(adds))

    def apply(self, caps: frozenset[str]) -> frozenset[str]:
        return (caps - self.removes) | self.adds


# Training the whole model (finetune, distill, recovery): float, dense or low-rank, no adapters.
TRAINS_FULL = Effect.of(requires=[TORCH, FLOAT_LINEARS, FLOAT_EMBEDDINGS, NO_ADAPTERS])


class OrderError(UserInputError):
    """An impossible stage order; str() is the one line shown to the user."""


@dataclass
class Step:
    label: str  # e.g. "stages[2] (lowrank)"
    kind: str  # e.g. "lowrank" or "quantize:bnb-nf4"
    effect: Effect
    index: int = 0


@dataclass
class Problem:
    step: Step
    missing: str
    blocker: Step | None = None

    def message(self, steps: Sequence[Step]) -> str:
        if self.blocker is None:
            why = NEVER_PROVIDED.get(self.missing, f"it needs '{self.missing}', which the model does not have")
            head = f"{self.step.label} cannot run here: {why}"
        else:
            head = f"{self.step.label} cannot follow {self.blocker.label}: {self.blocker.kind} {LOST[self.missing]}"
        better = suggest_order(steps)
        with_merge = suggest_with_merge(steps)
        if better is not None and with_merge is not None and self.missing == NO_ADAPTERS:
            # e.g. lora -> bnb-nf4: reordering gives QLoRA, but merging first may be what was meant
            return (
                f"{head}; an order that works: {' -> '.join(s.kind for s in better)}; or merge the adapters "
                f"first: {' -> '.join(s.kind for s in with_merge)}"
            )
        if better is not None:
            return f"{head}; an order that works: {' -> '.join(s.kind for s in better)}"
        if with_merge is not None:
            return f"{head}; an order that works (adding a merge stage): {' -> '.join(s.kind for s in with_merge)}"
        return head


def first_problem(steps: Sequence[Step], start: frozenset[str] = INITIAL) -> Problem | None:
    caps, removed_by = start, {}
    for step in steps:
        missing = sorted(step.effect.requires - caps, key=PRIORITY.index)
        if missing:
            return Problem(step, missing[0], removed_by.get(missing[0]))
        for cap in step.effect.removes & caps:
            removed_by[cap] = step
        caps = step.effect.apply(caps)
    return None


def suggest_order(steps: Sequence[Step], start: frozenset[str] = INITIAL, limit: int = 40320) -> list[Step] | None:
    """The valid permutation closest to the given order (fewest displaced stages), or None."""
    if len(steps) > 8:
        return None
    best, best_cost = None, None
    for perm in itertools.islice(itertools.permutations(steps), limit):
        if first_problem(perm, start) is not None:
            continue
        cost = sum(abs(i - steps.index(s)) for i, s in enumerate(perm))
        if best_cost is None or cost < best_cost:
            best, best_cost = list(perm), cost
    return best


# What a merge stage does (mirrors quant/config.py MergeConfig without requantize), for suggestions only.
MERGE = Effect.of(requires=[ADAPTERS], removes=[ADAPTERS], adds=[NO_ADAPTERS, FLOAT_LINEARS, PEFT_LINEARS])


def suggest_with_merge(steps: Sequence[Step], start: frozenset[str] = INITIAL) -> list[Step] | None:
    """When no reordering works because LoRA adapters are never merged, try with a merge after them."""
    adapters = [s for s in steps if ADAPTERS in s.effect.adds]
    if not adapters or any(ADAPTERS in s.effect.requires for s in steps) or len(steps) > 7:
        return None
    return suggest_order([*steps, Step("merge", "merge", MERGE, len(steps))], start)


def check_order(steps: Sequence[Step], start: frozenset[str] = INITIAL) -> None:
    problem = first_problem(steps, start)
    if problem is not None:
        raise OrderError(problem.message(steps))


@dataclass
class PairResult:
    first: str
    second: str
    ok: bool
    reason: str = ""
    extra: dict = field(default_factory=dict)


def pair_result(first: Step, second: Step, start: frozenset[str] = INITIAL) -> PairResult:
    """Can `second` run right after `first` (on an unmodified model)? With the reason when not."""
    problem = first_problem([first, second], start)
    if problem is None:
        return PairResult(first.kind, second.kind, True)
    if problem.blocker is None:
        return PairResult(first.kind, second.kind, False, NEVER_PROVIDED.get(problem.missing, problem.missing))
    return PairResult(first.kind, second.kind, False, f"the first stage {LOST[problem.missing]}")


def compat_markdown(kinds: dict[str, Effect]) -> str:
    """The README table: rows = first stage, columns = the stage after it; ✓ or a letter keyed to a reason."""
    names = list(kinds)
    steps = {n: Step(n, n, e) for n, e in kinds.items()}
    reasons: dict[str, str] = {}
    rows = []
    for a in names:
        cells = []
        for b in names:
            result = pair_result(steps[a], steps[b])
            if result.ok:
                cells.append("✓")
                continue
            key = next((k for k, r in reasons.items() if r == result.reason), None)
            if key is None:
                key = chr(ord("A") + len(reasons))
                reasons[key] = result.reason
            cells.append(key)
        rows.append(f"| `{a}` | " + " | ".join(cells) + " |")
    header = "| first ↓ · then → | " + " | ".join(f"`{n}`" for n in names) + " |"
    sep = "|---|" + "---|" * len(names)
    legend = "\n".join(f"- **{k}**: {v}" for k, v in reasons.items())
    return "\n".join([header, sep, *rows]) + "\n\n" + legend + "\n"
