"""`trimformer.load_data`: a recipe's `data:` section in Python, ready for `DistillationTrainer`.

    data = trimformer.load_data("reviews.csv", tokenizer, label_column="category")
    trainer = DistillationTrainer(..., train_dataset=data.train, eval_dataset=data.eval, data_collator=data.collator)

The splits carry what the trainer needs beyond the model's inputs: `example_id` (teacher_cache looks cached
logits up by it) and, when the teacher's tokenizer differs from the student's, the teacher's own ids.
"""

from __future__ import annotations

from typing import Any

from trimformer.tasks import TaskName


def load_data(
    path: str,
    tokenizer: Any,
    *,
    task: TaskName = "sequence-classification",
    teacher_tokenizer: Any = None,
    text_column: str = "text",
    label_column: str = "label",
    max_length: int = 128,
    seed: int = 42,
    regression: bool | None = None,
    **settings: Any,
) -> Any:
    """A local file (csv/tsv/json/jsonl/parquet, also compressed), a `package:MODULE/path` file or a Hub dataset
    id, split (a fixed-seed `eval_fraction` of a single file is held out), labels mapped to ids, tokenized.

    `settings` are the recipe's other `data:` fields (`label_names`, `filter`, `eval_fraction`, `name`,
    `eval_split`, `max_train_samples`, ...). Returns a `trimformer.data.TaskData`: `.train`, `.eval`, `.collator`,
    `.task` (label names in `.task.label_names`), `.raw_train` / `.raw_eval` (the text before tokenizing).
    """
    from trimformer import data as data_mod

    known = set(data_mod.DataSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"load_data() got unknown data settings {unknown}; known: {', '.join(sorted(known))}")
    s = data_mod.DataSettings(
        path=path, text_column=text_column, label_column=label_column, max_length=max_length, **settings
    )
    raw = data_mod.load_raw(s, seed)
    spec = data_mod.infer_task(task, raw, s, regression)
    return data_mod.prepare(raw, spec, s, tokenizer, teacher_tokenizer)
