"""RoBERTa: same encoder layout as BERT; the MLM head is `lm_head` (decoder tied to the embeddings)."""

from trimformer.prune.families.base import FamilyAdapter, register_family

ROBERTA = register_family(FamilyAdapter(name="roberta", model_types=("roberta",), mlm_head="lm_head"))
