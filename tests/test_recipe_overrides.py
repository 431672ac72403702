"""`--set` takes a field path in the dotted form and in the bracket form validation errors print."""

import pytest

from trimformer.recipe.load import RecipeError, apply_override


def test_bracket_and_dotted_indexes_set_the_same_field():
    base = {"stages": [{"type": "finetune"}, {"type": "distill", "alpha_kd": 0.5}]}
    dotted, bracket = (
        {**base, "stages": [dict(s) for s in base["stages"]]},
        {**base, "stages": [dict(s) for s in base["stages"]]},
    )
    apply_override(dotted, "stages.1.alpha_kd=0.9")
    apply_override(bracket, "stages[1].alpha_kd=0.9")
    assert dotted == bracket and bracket["stages"][1]["alpha_kd"] == 0.9
    with pytest.raises(RecipeError, match="'5' is not an index of stages"):
        apply_override(bracket, "stages[5].alpha_kd=1")
