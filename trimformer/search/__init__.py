"""Budget search (`trimformer search`): the most accurate student that fits a latency or size budget.

One idea per module: `config` (the `search:` section and budget keys), `space` (candidates), `build` (a
candidate's model from the recipe stages), `latency` (interleaved timing and the fitted model), `halving`
(cheap accuracy, successive halving), `store` (search.json and resume), `winner` (the normal run of the
winner), `compare` (hand-made pipelines in the winner's timing pass), `plot` (pareto.png), `run` (the steps
in order), `cli` (the command).
"""

from trimformer._lazy import lazy_exports

# Lazy: `trimformer --help` installs the search command without importing pydantic.
__getattr__, __dir__ = lazy_exports(__name__, {"SearchSection": "config", "parse_budget": "config"})
__all__ = ["SearchSection", "parse_budget"]
