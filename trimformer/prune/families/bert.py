"""BERT (and BERT-shaped checkpoints such as MiniLM): the MLM head is `cls.predictions`."""

from trimformer.prune.families.base import FamilyAdapter, register_family

BERT = register_family(FamilyAdapter(name="bert", model_types=("bert",), mlm_head="cls.predictions"))
