"""The README's stage-order table is exactly what the order checks use (generated from stage effects)."""

from pathlib import Path

from trimformer.stages.compat import table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_holds_the_generated_compatibility_table():
    text = README.read_text()
    start, end = "<!-- compat-table:start -->\n", "<!-- compat-table:end -->"
    assert start in text and end in text, "README lost its compat-table markers"
    current = text[text.index(start) + len(start) : text.index(end)]
    assert current == table(), "README table is stale: paste `python -m trimformer.stages.compat` between the markers"
