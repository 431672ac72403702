"""Data through `datasets`: Hub ids or local files (csv/tsv/json/jsonl/parquet, compressed too),
column mapping, label names, a fixed-seed validation split, tokenization and collation.

Every tokenized example keeps an `example_id` (its row in the training split) so teacher outputs
can be cached and looked up by example, whatever order batches come in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import DataCollatorForLanguageModeling, DataCollatorForTokenClassification, DataCollatorWithPadding

from trimformer.data_files import COMPRESSIONS, LOCAL_FORMATS, local_format, read_frame  # noqa: F401 (re-exported)
from trimformer.errors import UserInputError
from trimformer.labels import UNLABELLED, class_names, label_encoder
from trimformer.loading import resolve_path
from trimformer.references import local_path
from trimformer.tasks import TaskSpec

TEXT_DTYPES = ("string", "large_string")


@dataclass
class DataSettings:
    path: str
    name: str | None = None
    train_split: str = "train"
    eval_split: str | None = None
    eval_fraction: float = 0.1
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_names: list[str] | None = None
    filter: dict[str, list[Any]] = field(default_factory=dict)
    dedupe: bool = True
    max_length: int = 128
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    unlabeled_path: str | None = None


def read_local(path: str, field: str = "data.path") -> datasets.Dataset:
    """A local file as a Dataset; every unreadable file is a one-line UserInputError naming `field`."""
    frame = read_frame(path, field)
    try:
        return datasets.Dataset.from_pandas(frame, preserve_index=False)
    except (ValueError, TypeError) as exc:  # pyarrow: a column whose values arrow cannot store together
        detail = str(exc).strip().splitlines()[0][:160]
        message = f"{field}: {path}: a column mixes kinds of values ({detail}); make each column one kind"
        raise UserInputError(message) from None


def load_raw(settings: DataSettings, seed: int) -> datasets.DatasetDict:
    """Train and eval splits with filters, de-duplication and sample caps applied."""
    ref = resolve_path(settings.path)
    local = local_path("data.path", ref, "file")
    if local is not None:
        if settings.eval_split or settings.train_split != "train":
            key = "eval_split" if settings.eval_split else "train_split"
            raise UserInputError(
                f"data.{key}: {settings.path} is one local file with no named splits; remove data.{key} "
                "(data.eval_fraction holds out a fixed-seed share of its rows for evaluation)"
            )
        train, evaluation = read_local(str(local)), None
        where = str(local)
    else:
        try:
            loaded = datasets.load_dataset(ref, settings.name)
        except (OSError, ValueError) as exc:  # not found, offline, unknown config name: the user's to fix
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            config = f" (config {settings.name})" if settings.name else ""
            raise UserInputError(
                f"data.path: cannot load the Hub dataset '{ref}'{config}: {detail}; check the id and data.name, "
                "or use a local file"
            ) from None
        for key, split in (("train_split", settings.train_split), ("eval_split", settings.eval_split)):
            if split is not None and split not in loaded:
                raise UserInputError(
                    f"data.{key}: {ref} has no split '{split}' (it has: {', '.join(loaded)}); set data.{key}"
                )
        train = loaded[settings.train_split]
        evaluation = loaded[settings.eval_split] if settings.eval_split else None
        where = ref
    train = _clean(train, settings, where)
    if evaluation is None:
        if len(train) < 2:
            raise UserInputError(
                f"data.path: {where} has {len(train)} usable row(s) after filters and de-duplication; "
                "a train/eval split needs at least 2"
            )
        split = train.train_test_split(test_size=settings.eval_fraction, seed=seed)
        train, evaluation = split["train"], split["test"]
    else:
        evaluation = _clean(evaluation, settings, f"{where} ({settings.eval_split})")
    if settings.max_train_samples:
        train = train.shuffle(seed=seed).select(range(min(settings.max_train_samples, len(train))))
    if settings.max_eval_samples:
        evaluation = evaluation.shuffle(seed=seed).select(range(min(settings.max_eval_samples, len(evaluation))))
    return datasets.DatasetDict(train=train, validation=evaluation)


def _require_column(ds: datasets.Dataset, column: str, key: str, where: str) -> None:
    if column not in ds.column_names:
        raise UserInputError(
            f"data.{key}: '{column}' is not a column of {where} (columns: {', '.join(ds.column_names)}); "
            f"set data.{key} to one of them"
        )


def _clean(ds: datasets.Dataset, s: DataSettings, where: str = "the data") -> datasets.Dataset:
    """Keep filtered rows with text (empty or missing text cells are dropped), de-duplicated by text."""
    _require_column(ds, s.text_column, "text_column", where)
    if s.text_pair_column:
        _require_column(ds, s.text_pair_column, "text_pair_column", where)
    for column, allowed in s.filter.items():
        _require_column(ds, column, f"filter.{column}", where)
        ds = ds.filter(lambda v, c=column, keep=frozenset(allowed): v[c] in keep)
    text_columns = [c for c in (s.text_column, s.text_pair_column) if c]
    for column in text_columns:
        dtype = getattr(ds.features[column], "dtype", None)
        if dtype in TEXT_DTYPES:
            ds = ds.filter(lambda v, c=column: isinstance(v[c], str) and v[c].strip() != "")
        elif dtype is not None and dtype != "null":
            raise UserInputError(
                f"data.{'text_column' if column == s.text_column else 'text_pair_column'}: '{column}' in {where} "
                f"holds {dtype} values, not text; point it at the text column"
            )
    if len(ds) == 0:
        raise UserInputError(
            f"data: no rows of {where} are left with text in '{s.text_column}'"
            + (f" after data.filter {s.filter}" if s.filter else "")
            + "; check data.text_column and data.filter"
        )
    if s.dedupe and getattr(ds.features[s.text_column], "dtype", None) in TEXT_DTYPES:
        seen: set[str] = set()
        keep_rows = []
        for i, text in enumerate(ds[s.text_column]):
            if text not in seen:
                seen.add(text)
                keep_rows.append(i)
        ds = ds.select(keep_rows)
    return ds


def infer_task(task_name: str, raw: datasets.DatasetDict, s: DataSettings, regression: bool | None) -> TaskSpec:
    """Label names: from a ClassLabel feature, the recipe, or the distinct values of train and eval
    (mapped by value to ids 0..n-1, see `trimformer.labels`)."""
    if task_name == "masked-lm":
        return TaskSpec(task_name)
    for split in raw.values():
        _require_column(split, s.label_column, "label_column", f"the {task_name} data")
    feature = raw["train"].features[s.label_column]
    splits = [raw[k] for k in ("train", "validation") if k in raw]
    if task_name == "token-classification":
        inner = getattr(feature, "feature", None)
        if isinstance(inner, datasets.ClassLabel) and not s.label_names:
            names = tuple(inner.names)
        else:
            tags = [t for split in splits for row in split[s.label_column] if row is not None for t in row]
            names = class_names(tags, s.label_names, "the data", column=s.label_column)
        return TaskSpec(task_name, len(names), tuple(str(n) for n in names))
    if regression or (regression is None and getattr(feature, "dtype", "") in ("float32", "float64")):
        return TaskSpec(task_name, 1, (), regression=True)
    if isinstance(feature, datasets.ClassLabel):
        names = tuple(s.label_names or feature.names)
        if len(names) != feature.num_classes:
            raise UserInputError(
                f"data.label_names: {len(names)} names for the dataset's {feature.num_classes} classes "
                f"({', '.join(feature.names)}); give one name per class or drop data.label_names"
            )
    else:
        values = [v for split in splits for v in split[s.label_column]]
        names = class_names(values, s.label_names, "the data", column=s.label_column)
    return TaskSpec(task_name, len(names), names)


def _label_encoder(task: TaskSpec, feature: Any):
    if task.regression:
        return lambda v: float("nan") if v is None else float(v)
    inner = getattr(feature, "feature", None) if task.name == "token-classification" else None
    feature = inner if inner is not None else feature
    class_label = isinstance(feature, datasets.ClassLabel)
    integer = class_label or str(getattr(feature, "dtype", "")).startswith(("int", "uint"))
    # A TaskSpec built in Python may give only num_labels: integer labels are then the ids 0..n-1.
    names = task.label_names or tuple(str(i) for i in range(task.num_labels))
    return label_encoder(names, integer, class_label)


def tokenize(
    ds: datasets.Dataset,
    task: TaskSpec,
    s: DataSettings,
    tokenizer: Any,
    teacher_tokenizer: Any = None,
    labelled: bool = True,
    id_offset: int = 0,
) -> datasets.Dataset:
    """Model-ready columns plus `example_id`; with a teacher tokenizer also `teacher_*` columns."""
    ds = ds.map(lambda _, i: {"example_id": i + id_offset}, with_indices=True)
    has_labels = labelled and s.label_column in ds.column_names and task.name != "masked-lm"
    encode_label = _label_encoder(task, ds.features[s.label_column]) if has_labels else None

    def encode(batch: dict) -> dict:
        if task.name == "token-classification":
            return _encode_tokens(batch, s, tokenizer, encode_label)
        texts = (batch[s.text_column],) + ((batch[s.text_pair_column],) if s.text_pair_column else ())
        out = dict(tokenizer(*texts, truncation=True, max_length=s.max_length))
        if teacher_tokenizer is not None:
            for k, v in teacher_tokenizer(*texts, truncation=True, max_length=s.max_length).items():
                out[f"teacher_{k}"] = v
        if task.name != "masked-lm":
            out["labels"] = (
                [encode_label(v) for v in batch[s.label_column]]
                if has_labels
                else [float("nan") if task.regression else UNLABELLED] * len(batch[s.text_column])
            )
        out["example_id"] = batch["example_id"]
        return out

    return ds.map(encode, batched=True, remove_columns=ds.column_names, desc="tokenize")


def _encode_tokens(batch: dict, s: DataSettings, tokenizer: Any, encode_label) -> dict:
    """Words -> sub-tokens; the label goes to each word's first sub-token, -100 elsewhere."""
    encoding = tokenizer(batch[s.text_column], is_split_into_words=True, truncation=True, max_length=s.max_length)
    labels = []
    for row in range(len(batch[s.text_column])):
        tags = batch[s.label_column][row] if encode_label else None
        previous, row_labels = None, []
        for w in encoding.word_ids(row):
            if w is None or w == previous or tags is None:
                row_labels.append(UNLABELLED)
            else:
                row_labels.append(encode_label(tags[w]))
            previous = w
        labels.append(row_labels)
    out = dict(encoding)
    out["labels"] = labels
    out["example_id"] = batch["example_id"]
    return out


class DistillationCollator:
    """Pads student and teacher fields separately (they may come from different tokenizers) and
    passes `example_id` through; MLM masking happens here so teacher and student see one mask."""

    def __init__(self, tokenizer: Any, task: TaskSpec, teacher_tokenizer: Any = None, mlm_probability: float = 0.15):
        self.task = task
        if task.name == "token-classification":
            self.student = DataCollatorForTokenClassification(tokenizer)
        elif task.name == "masked-lm":
            self.student = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
        else:
            self.student = DataCollatorWithPadding(tokenizer)
        self.teacher = DataCollatorWithPadding(teacher_tokenizer) if teacher_tokenizer is not None else None

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        teacher_keys = [k for k in features[0] if k.startswith("teacher_")]
        ids = torch.tensor([f["example_id"] for f in features], dtype=torch.long)
        student_feats = [{k: v for k, v in f.items() if k != "example_id" and k not in teacher_keys} for f in features]
        if self.task.regression:
            for f in student_feats:
                f["labels"] = float(f["labels"])
        batch = dict(self.student(student_feats))
        if self.task.regression and "labels" in batch:
            batch["labels"] = batch["labels"].float()
        if teacher_keys and self.teacher is not None:
            t_feats = [{k[len("teacher_") :]: f[k] for k in teacher_keys} for f in features]
            for k, v in self.teacher(t_feats).items():
                batch[f"teacher_{k}"] = v
        batch["example_id"] = ids
        return batch


def teacher_needs_own_ids(tokenizer: Any, teacher_tokenizer: Any, force: bool | None = None) -> bool:
    """The one rule for when a teacher reads its own token ids (`teacher_*` columns) instead of the
    student's: whenever the two tokenizers differ. `force` is the recipe's `teacher.own_tokenizer`."""
    if teacher_tokenizer is None:
        return False
    differ = not tokenizers_match(tokenizer, teacher_tokenizer)
    if force is False and differ:
        raise ValueError(
            "teacher.own_tokenizer: false, but the teacher's tokenizer differs from the student's; "
            "remove the setting (the teacher then tokenizes the raw text itself)"
        )
    return differ or bool(force)


@dataclass
class TaskView:
    """The splits tokenized for one (model, teacher) pair, with the collator that batches them.
    `teacher_columns` says whether batches carry the teacher's own ids as `teacher_*`."""

    train: datasets.Dataset
    eval: datasets.Dataset
    collator: DistillationCollator
    tokenizer: Any
    teacher_tokenizer: Any = None

    @property
    def teacher_columns(self) -> bool:
        return self.teacher_tokenizer is not None


@dataclass
class TaskData:
    """Raw splits for a run plus the student's tokenized view (train/eval/collator, with `teacher_*`
    columns when the run's teacher tokenizes for itself). `view()` tokenizes for any other pair, e.g.
    the teacher alone when it is fine-tuned, or a pruned student and its unpruned copy."""

    settings: DataSettings
    task: TaskSpec
    raw_train: datasets.Dataset
    raw_eval: datasets.Dataset
    train: datasets.Dataset
    eval: datasets.Dataset
    collator: DistillationCollator
    tokenizer: Any = None
    teacher_tokenizer: Any = None  # set only when the teacher reads its own ids
    mlm_probability: float = 0.15
    _views: dict = field(default_factory=dict, repr=False)

    @property
    def text_column(self) -> str:
        return self.settings.text_column

    def view(self, tokenizer: Any, teacher_tokenizer: Any = None, force_own: bool | None = None) -> TaskView:
        """Splits tokenized by `tokenizer`; with a teacher tokenizer that differs, also `teacher_*` columns."""
        own = teacher_needs_own_ids(tokenizer, teacher_tokenizer, force_own)
        teacher_tok = teacher_tokenizer if own else None
        key = (id(tokenizer), id(teacher_tok))
        if key not in self._views:
            if tokenizer is self.tokenizer and teacher_tok is self.teacher_tokenizer:
                self._views[key] = TaskView(self.train, self.eval, self.collator, tokenizer, teacher_tok)
            else:
                self._views[key] = TaskView(
                    tokenize(self.raw_train, self.task, self.settings, tokenizer, teacher_tok),
                    tokenize(self.raw_eval, self.task, self.settings, tokenizer, teacher_tok),
                    DistillationCollator(tokenizer, self.task, teacher_tok, self.mlm_probability),
                    tokenizer,
                    teacher_tok,
                )
        return self._views[key]


def prepare(
    raw: datasets.DatasetDict,
    task: TaskSpec,
    s: DataSettings,
    tokenizer: Any,
    teacher_tokenizer: Any = None,
    force_own: bool | None = None,
) -> TaskData:
    """Tokenize both splits for the student; the teacher gets its own `teacher_*` columns when its
    tokenizer differs (see `teacher_needs_own_ids`)."""
    teacher_tok = teacher_tokenizer if teacher_needs_own_ids(tokenizer, teacher_tokenizer, force_own) else None
    train = tokenize(raw["train"], task, s, tokenizer, teacher_tok)
    evaluation = tokenize(raw["validation"], task, s, tokenizer, teacher_tok)
    collator = DistillationCollator(tokenizer, task, teacher_tok)
    return TaskData(s, task, raw["train"], raw["validation"], train, evaluation, collator, tokenizer, teacher_tok)


def tokenizers_match(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a.get_vocab() == b.get_vocab())
