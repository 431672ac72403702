"""The recipe's optional `hub:` section, and the push a run does when it has one.

    hub:
      repo_id: me/minilm-distilled   # push after the run; omit to publish later with `trimformer push`
      private: false
      stage: distill                  # default: the last stage
      license: apache-2.0             # card metadata; default: none stated
      revision: main

Tokens never belong in a recipe (recipes are uploaded): HF_TOKEN or `hf auth login` provide them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trimformer.card import CardError


class HubSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo_id: str | None = Field(None, description="Hub repo to push to after the run (e.g. me/minilm-distilled).")
    push: bool = Field(True, description="Push automatically at the end of the run when repo_id is set.")
    private: bool = False
    stage: str | None = Field(None, description="Stage to publish (default: the last one).")
    license: str | None = Field(None, description="License id for the card metadata, e.g. apache-2.0.")
    revision: str = "main"


def parse_hub_section(raw: dict[str, Any] | None) -> HubSection:
    """Validate `recipe.hub` (offline); errors are one line naming the key."""
    raw = dict(raw or {})
    for key in raw:
        if "token" in key.lower():
            raise CardError(
                f"hub.{key}: never put tokens in a recipe (it is uploaded); set HF_TOKEN or run `hf auth login`"
            )
    try:
        return HubSection(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CardError(f"hub.{where}: {err['msg']} (known keys: {', '.join(HubSection.model_fields)})") from None


def push_after_run(output_dir: str | Path, raw: dict[str, Any] | None) -> Any:
    """What the runner calls after the last report.json write: pushes when `hub.repo_id` is set and
    `hub.push` is not false; returns the PushResult or None."""
    from trimformer.hub.push import push_output

    hub = parse_hub_section(raw)
    if not hub.repo_id or not hub.push:
        return None
    return push_output(output_dir, hub.repo_id, stage=hub.stage, private=hub.private, revision=hub.revision)
