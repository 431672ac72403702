"""Teacher-labelled augmentation: reproducible variants, and more copies keep the earlier ones (so the teacher
cache labels only the new text when a recipe raises n_variants)."""

import pytest

from trimformer.distill.augment import augment_texts

TEXTS = [
    "a gripping and beautifully acted drama that never lets go",
    "dull , overlong and with nothing new to say about anything",
    "fine",
    "the jokes land more often than not , and the cast is game",
]


def by_source(variants: list[str], sources: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for text, source in zip(variants, sources):
        out.setdefault(source, []).append(text)
    return out


def test_more_copies_keep_the_earlier_ones():
    few = by_source(*augment_texts(TEXTS, n_variants=3, seed=0))
    many = by_source(*augment_texts(TEXTS, n_variants=8, seed=0))
    for source, texts in few.items():
        assert many[source][: len(texts)] == texts
    assert sum(map(len, many.values())) > sum(map(len, few.values()))


def test_variants_are_reproducible_new_text_and_follow_the_seed():
    variants, sources = augment_texts(TEXTS, n_variants=5, seed=0)
    assert (variants, sources) == augment_texts(TEXTS, n_variants=5, seed=0)
    assert all(v and v != TEXTS[s] for v, s in zip(variants, sources))
    assert variants != augment_texts(TEXTS, n_variants=5, seed=1)[0]


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="shuffle"):
        augment_texts(TEXTS, kinds=["dropout", "shuffle"])
