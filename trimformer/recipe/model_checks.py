"""Validate-time checks against local model folders, reading only config.json and the tokenizer's
vocabulary (no weights): the folder is a model, layer indices and `layer_map` pairs exist, lengths fit
the position embeddings, tokenizer and embeddings agree, classification heads match the data's classes,
pruning amounts fit the model, and custom model code only runs with `trust_remote_code: true`.
Models named by Hub id cannot be read offline: those checks are skipped, silently."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trimformer.errors import UserInputError
from trimformer.recipe.data_checks import DataFacts
from trimformer.references import resolve_local

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".h5", ".msgpack")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer_config.json", "spiece.model")
HEAD_SUFFIX = {
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
}


@dataclass
class ModelFacts:
    field: str
    ref: str
    config: Any  # a transformers PretrainedConfig (or the raw dict as attributes when it has custom code)
    vocab: dict[str, int] | None
    tokenizer_kind: str | None = None  # tokenizer.json's model type (WordPiece, BPE, Unigram), if known
    path: Path | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self.config, name, default)

    def full_config(self) -> Any:
        """transformers' config object (class defaults included); imports transformers, so only where needed."""
        if isinstance(self.config, _Attrs) and self.path is not None and not self.get("auto_map"):
            self.config = _auto_config(self.field, self.path)
        return self.config


class _Attrs:
    """config.json as attributes, with PretrainedConfig's one derived field the checks read (num_labels)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)
        if "num_labels" not in values:
            self.num_labels = len(values.get("id2label") or {}) or 2


# Read straight from config.json when all are there (BERT, RoBERTa, MiniLM, MPNet ...): importing transformers
# to parse a JSON file costs `trimformer validate` seconds. Other names (DistilBERT's n_layers) need its classes.
CORE_FIELDS = ("model_type", "num_hidden_layers", "num_attention_heads", "hidden_size", "vocab_size")


def _auto_config(field: str, path: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path), trust_remote_code=False)  # validate never runs model code
    except (ValueError, KeyError, TypeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserInputError(
            f"{field}: {path / 'config.json'} is not a config transformers can read ({detail})"
        ) from None


def read_model(field: str, ref: str, trust_remote_code: bool) -> ModelFacts | None:
    """The local model folder's config and vocabulary, or None for a Hub id."""
    path = resolve_local(field, ref, "folder")
    if path is None:
        return None
    if not path.is_dir():
        raise UserInputError(
            f"{field}: {ref} is a file; point at the model's folder (config.json, weights, tokenizer)"
        )
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UserInputError(
            f"{field}: {ref} has no config.json; point at a folder written by save_pretrained, or give a Hub id"
        )
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise UserInputError(f"{field}: {config_file} is not valid JSON ({exc}); re-save the model") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{field}: {config_file} is not a JSON object; re-save the model")
    if raw.get("auto_map") and not trust_remote_code:
        raise UserInputError(
            f"{field}: {ref} runs its own Python code (config.json auto_map); set trust_remote_code: true at the "
            "top of the recipe only if you trust its author"
        )
    if not any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir() if p.is_file()):
        raise UserInputError(
            f"{field}: {ref} has no weights (model.safetensors or pytorch_model.bin); save the model there with "
            "save_pretrained"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UserInputError(
            f"{field}: {ref} has no tokenizer (tokenizer.json or vocab.txt); save the tokenizer into the same folder"
        )
    config: Any = _Attrs(raw)
    if not raw.get("auto_map") and not all(k in raw for k in CORE_FIELDS):
        config = _auto_config(field, path)
    return ModelFacts(field, ref, config, read_vocab(path), _tokenizer_kind(path), path)


def _tokenizer_kind(path: Path) -> str | None:
    try:
        data = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        return str(data["model"]["type"])
    except (ValueError, OSError, KeyError, TypeError):
        return "WordPiece" if (path / "vocab.txt").is_file() else None


def read_vocab(path: Path) -> dict[str, int] | None:
    """token -> id from tokenizer.json (WordPiece/BPE/Unigram, plus added tokens) or vocab.txt; None if unknown."""
    try:
        if (path / "tokenizer.json").is_file():
            data = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
            model_vocab = data.get("model", {}).get("vocab")
            if isinstance(model_vocab, dict):
                vocab = {str(k): int(v) for k, v in model_vocab.items()}
            elif isinstance(model_vocab, list):  # Unigram: [[piece, score], ...]
                vocab = {str(entry[0]): i for i, entry in enumerate(model_vocab)}
            else:
                return None
            for token in data.get("added_tokens") or []:
                vocab[str(token["content"])] = int(token["id"])
            return vocab
        if (path / "vocab.txt").is_file():
            lines = (path / "vocab.txt").read_text(encoding="utf-8").splitlines()
            return {token: i for i, token in enumerate(lines)}
    except (ValueError, OSError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return None


def _positions(model: ModelFacts) -> int | None:
    positions = model.get("max_position_embeddings")
    if not isinstance(positions, int):
        return None
    # RoBERTa-style models offset positions by padding_idx + 1.
    if model.get("model_type") in ("roberta", "xlm-roberta", "camembert", "longformer", "mpnet"):
        positions -= (model.get("pad_token_id") or 1) + 1
    return positions


def check_model(model: ModelFacts, recipe: Any, facts: DataFacts | None) -> None:
    """Checks of one model folder on its own and against the recipe's lengths and the data's classes."""
    vocab_size = model.get("vocab_size")
    if model.vocab and isinstance(vocab_size, int) and max(model.vocab.values()) >= vocab_size:
        raise UserInputError(
            f"{model.field}: its tokenizer has ids up to {max(model.vocab.values())} but the model's embeddings "
            f"hold {vocab_size} (config.json vocab_size); the tokenizer and weights come from different models"
        )
    positions = _positions(model)
    if positions is not None:
        for key, value in (("data.max_length", recipe.data.max_length), ("measure.length", recipe.measure.length)):
            if value > positions:
                raise UserInputError(
                    f"{key}: {value} is longer than {model.field}'s {positions} positions "
                    f"(max_position_embeddings); lower it to {positions} or less"
                )
    _check_head(model, recipe, facts)


def _check_head(model: ModelFacts, recipe: Any, facts: DataFacts | None) -> None:
    """A checkpoint that already has a task head loads only if the head fits the data's classes."""
    suffix = HEAD_SUFFIX.get(recipe.task)
    architectures = model.get("architectures") or []
    if facts is None or suffix is None or not any(str(a).endswith(suffix) for a in architectures):
        return
    id2label = model.get("id2label") or {}
    head = model.get("num_labels", len(id2label))
    if facts.regression:
        if head != 1:
            raise UserInputError(
                f"{model.field}: {model.ref} has a {head}-class head, but the data is regression (one number); "
                "start from the base model (no head), or set data.regression: false"
            )
        return
    names = facts.label_names or ()
    if head != len(names):
        raise UserInputError(
            f"{model.field}: {model.ref} has a {head}-class head but {facts.where} has {len(names)} classes "
            f"({', '.join(names[:8])}); start from the base model (no head) with a finetune stage, or make the "
            "data's classes match (data.filter, data.label_names)"
        )
    head_names = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(head)]
    generic = head_names == [f"LABEL_{i}" for i in range(head)]
    if not generic and head_names != list(names):
        raise UserInputError(
            f"data.label_names: {model.field}'s head has the classes {head_names} (in id order) but the data's "
            f"are {list(names)}; set data.label_names: {head_names} so each label keeps its id"
        )


@dataclass
class Shape:
    """The student's shape as far as it is known before loading (None = unknown)."""

    layers: int | None
    heads: int | None
    ffn: int | None


def student_shape(recipe: Any, teacher: ModelFacts | None, student: ModelFacts | None) -> Shape:
    spec = recipe.student
    if spec.init == "pretrained":
        if student is None:
            return Shape(None, None, None)
        return Shape(
            student.get("num_hidden_layers"), student.get("num_attention_heads"), student.get("intermediate_size")
        )
    # init: layers cuts the teacher's layers, or those of student.model when one is given.
    source, whose = (student, "student.model") if spec.init == "layers" and spec.model else (teacher, "teacher")
    if source is None:
        count = len(spec.layers) if spec.layers is not None else spec.num_layers
        return Shape(count if spec.init == "layers" else spec.config.get("num_hidden_layers"), None, None)
    total = source.get("num_hidden_layers")
    heads, ffn = source.get("num_attention_heads"), source.get("intermediate_size")
    if spec.init == "layers":
        if spec.layers is not None:
            bad = [i for i in spec.layers if i >= total]
            if bad:
                raise UserInputError(
                    f"student.layers: {bad} out of range; the {whose} ({source.ref}) has layers 0..{total - 1}"
                )
            return Shape(len(spec.layers), heads, ffn)
        if spec.num_layers > total:
            raise UserInputError(
                f"student.num_layers: {spec.num_layers} is more than the {whose}'s {total} layers; use at most {total}"
            )
        return Shape(spec.num_layers, heads, ffn)
    # init: random -- the teacher's config with overrides
    teacher.full_config()  # class defaults count as fields too
    for key, value in spec.config.items():
        if not hasattr(teacher.config, key):
            raise UserInputError(
                f"student.config.{key}: {type(teacher.config).__name__} has no such field; "
                "use e.g. num_hidden_layers, hidden_size, num_attention_heads, intermediate_size"
            )
        if key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size") and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise UserInputError(f"student.config.{key}: must be a whole number >= 1 (got {value!r})")
    merged = {
        k: spec.config.get(k, teacher.get(k)) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads")
    }
    if isinstance(merged["hidden_size"], int) and isinstance(merged["num_attention_heads"], int):
        if merged["hidden_size"] % merged["num_attention_heads"]:
            raise UserInputError(
                f"student.config: hidden_size {merged['hidden_size']} is not a multiple of num_attention_heads "
                f"{merged['num_attention_heads']}; change one of them"
            )
    return Shape(merged["num_hidden_layers"], merged["num_attention_heads"], spec.config.get("intermediate_size", ffn))


def check_tokenizers(recipe: Any, teacher: ModelFacts | None, student: ModelFacts | None) -> None:
    """A pretrained student with another vocabulary needs the teacher to read its own ids."""
    if teacher is None or student is None or teacher.vocab is None or student.vocab is None:
        return
    differ = teacher.vocab != student.vocab
    if differ and recipe.teacher.own_tokenizer is False:
        raise UserInputError(
            "teacher.own_tokenizer: false, but the teacher's vocabulary differs from the student's "
            f"({len(teacher.vocab)} vs {len(student.vocab)} tokens); remove the setting (the teacher then reads "
            "its own token ids)"
        )
    if differ and recipe.task != "sequence-classification":
        raise UserInputError(
            f"student.model: its vocabulary differs from the teacher's, which only sequence classification "
            f"supports; the {recipe.task} student must share the teacher's tokenizer"
        )


def _room(amount: float, scope: str, layers: int, size: int, min_keep: int, unit: str) -> str | None:
    """Why pruning `amount` of `size` units in each of `layers` layers cannot keep `min_keep` per layer."""
    if min_keep > size:
        return f"min_{unit}_per_layer {min_keep} is more than the {size} {unit} of a layer"
    per_layer = scope == "per_layer"
    total = size if per_layer else size * layers
    room = (size - min_keep) * (1 if per_layer else layers)
    want = int(round(amount * total)) if amount < 1 else int(amount)
    if want > room:
        where = "each layer has" if per_layer else f"the student has {layers} layers x {size} ="
        return (
            f"{amount} asks for {want} {unit} but {where} {total} and must keep {min_keep} per layer; "
            f"use at most {room} or a fraction below 1"
        )
    return None


def check_stage_shapes(stages: list[Any], types: list[str], teacher: ModelFacts | None, shape: Shape) -> None:
    """Walk the stages with the student's known shape: layer maps, head counts, pruning amounts."""
    teacher_layers = teacher.get("num_hidden_layers") if teacher else None
    teacher_heads = teacher.get("num_attention_heads") if teacher else None
    for index, (stage, kind) in enumerate(zip(stages, types)):
        where = f"stages[{index}]"
        s = shape
        if kind == "distill":
            if isinstance(stage.layer_map, list) and s.layers is not None and teacher_layers is not None:
                for pair in stage.layer_map:
                    if pair[0] > s.layers or pair[1] > teacher_layers:
                        raise UserInputError(
                            f"{where}.layer_map: pair {list(pair)} is out of range; the student has layers "
                            f"0..{s.layers} and the teacher 0..{teacher_layers} (0 = embeddings)"
                        )
            if stage.layer_map == "last-k" and s.layers is not None and teacher_layers is not None:
                if s.layers > teacher_layers:
                    raise UserInputError(
                        f"{where}.layer_map: last-k needs a student no deeper than the teacher "
                        f"({s.layers} > {teacher_layers} layers); use uniform or explicit pairs"
                    )
            if stage.alpha_attention > 0 and None not in (s.heads, teacher_heads) and s.heads != teacher_heads:
                raise UserInputError(
                    f"{where}.alpha_attention: attention transfer needs equal head counts (student {s.heads}, "
                    f"teacher {teacher_heads}); set alpha_attention to 0"
                )
        elif kind == "prune_heads" and s.layers is not None and s.heads is not None:
            if stage.heads is not None:
                for layer, heads in stage.heads.items():
                    if layer >= s.layers or any(h >= s.heads for h in heads):
                        raise UserInputError(
                            f"{where}.heads: {{{layer}: {heads}}} is out of range; the student has layers "
                            f"0..{s.layers - 1} with heads 0..{s.heads - 1}"
                        )
                    if s.heads - len(set(heads)) < stage.min_heads_per_layer:
                        raise UserInputError(
                            f"{where}.heads: layer {layer} would keep {s.heads - len(set(heads))} heads, fewer than "
                            f"min_heads_per_layer {stage.min_heads_per_layer}; remove fewer heads there"
                        )
            else:
                problem = _room(stage.amount, stage.scope, s.layers, s.heads, stage.min_heads_per_layer, "heads")
                if problem:
                    raise UserInputError(f"{where}.amount: {problem}")
            shape = Shape(s.layers, None, s.ffn)  # heads now differ per layer
        elif kind == "prune_ffn" and s.layers is not None and s.ffn is not None:
            problem = _room(stage.amount, stage.scope, s.layers, s.ffn, stage.min_neurons_per_layer, "neurons")
            if problem:
                raise UserInputError(f"{where}.amount: {problem}")
            shape = Shape(s.layers, s.heads, None)
        elif kind == "prune_layers" and s.layers is not None:
            if stage.layers is not None:
                bad = [i for i in stage.layers if i >= s.layers]
                if bad:
                    raise UserInputError(
                        f"{where}.layers: {bad} out of range; the student has layers 0..{s.layers - 1} at this stage"
                    )
                dropped = len(set(stage.layers))
            else:
                dropped = stage.count
            if dropped >= s.layers:
                raise UserInputError(
                    f"{where}: would drop {dropped} of the student's {s.layers} layers; keep at least one"
                )
            shape = Shape(s.layers - dropped, s.heads, s.ffn)


def check_stage_support(recipe: Any, stages: list[Any], types: list[str], teacher: Any, student: Any) -> None:
    """What a technique supports, read from the config and tokenizer the student will have."""
    source = student if recipe.student.model and recipe.student.init in ("pretrained", "layers") else teacher
    if source is None:
        return
    model_type = source.get("model_type")
    for index, (stage, kind) in enumerate(zip(stages, types)):
        where = f"stages[{index}] ({kind})"
        if kind in ("prune_heads", "prune_ffn", "prune_layers", "prune_vocab"):
            from trimformer.prune.families import supported_model_types

            supported = supported_model_types()
            if model_type not in supported:
                raise UserInputError(
                    f"{where}: pruning supports model types {', '.join(supported)}; the student is "
                    f"'{model_type}' ({source.field}: {source.ref}); drop the stage or use such a model"
                )
        if kind == "prune_vocab" and source.tokenizer_kind not in (None, "WordPiece", "BPE"):
            raise UserInputError(
                f"{where}: vocabulary pruning supports WordPiece and BPE tokenizers; {source.ref} has a "
                f"{source.tokenizer_kind} tokenizer; drop the stage"
            )
        if kind == "quantize" and stage.method == "embedding-int8" and recipe.task == "masked-lm":
            if source.get("tie_word_embeddings", True):
                raise UserInputError(
                    f"{where}: embedding-int8 cannot quantize a masked-lm model whose output layer shares the word "
                    "embeddings (tie_word_embeddings); use another method or prune_vocab"
                )
