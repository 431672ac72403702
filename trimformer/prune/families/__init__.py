"""Per-family adapters; importing this package registers them."""

from trimformer.prune.families import bert, roberta  # noqa: F401
from trimformer.prune.families.base import FamilyAdapter, adapter_for, register_family, supported_model_types

__all__ = ["FamilyAdapter", "adapter_for", "register_family", "supported_model_types"]
