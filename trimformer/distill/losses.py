"""Distillation loss terms (DistilBERT's distiller, as pure functions).

Each returns a scalar that is a mean over the items it covers, so the trainer can weight and log
them separately and gradient accumulation stays a plain average of micro-batch means.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _items(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both logits as fp32 [items, classes], only the items `mask` keeps (real tokens of a token task)."""
    num_classes = student_logits.size(-1)
    s = student_logits.reshape(-1, num_classes).float()
    t = teacher_logits.reshape(-1, num_classes).float()
    if mask is not None:
        keep = mask.reshape(-1).bool()
        s, t = s[keep], t[keep]
    return s, t


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """KL(softmax(teacher/T) || softmax(student/T)) * T^2, averaged over items (rows after flattening).

    `mask` (bool, same leading shape as the logits without the class dim) picks which items count,
    e.g. real tokens for token classification / MLM.
    """
    s, t = _items(student_logits, teacher_logits, mask)
    if s.numel() == 0:
        return student_logits.sum() * 0.0
    log_p_s = F.log_softmax(s / temperature, dim=-1)
    log_p_t = F.log_softmax(t / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)
    return kl.mean() * temperature**2


def logit_mse_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE between raw logits, averaged over items: keeps the teacher's margins that a softmax squashes (Tang et
    al. 2019 distil BERT this way; Kim et al. 2021 find it beats KL). Logits are compared as they are, so
    teacher and student heads must order the labels alike (the trainer checks)."""
    s, t = _items(student_logits, teacher_logits, mask)
    if s.numel() == 0:
        return student_logits.sum() * 0.0
    return F.mse_loss(s, t)


def regression_kd_loss(student_out: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
    """For one-output regression heads there is no distribution: match the teacher's prediction."""
    return F.mse_loss(student_out.float().view(-1), teacher_out.float().view(-1))


def hidden_state_loss(
    student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """MSE or (1 - cosine) between already-projected student and teacher states, over real tokens."""
    keep = attention_mask.bool()
    s, t = student_hidden[keep].float(), teacher_hidden[keep].float()
    if kind == "mse":
        return F.mse_loss(s, t)
    if kind == "cosine":
        target = torch.ones(s.size(0), device=s.device)
        return F.cosine_embedding_loss(s, t, target)
    raise ValueError(f"hidden_loss must be 'mse' or 'cosine' (got {kind!r})")


def attention_loss(
    student_attn: torch.Tensor, teacher_attn: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """TinyBERT-style MSE between attention probabilities [batch, heads, q, k] on real query rows."""
    rows = attention_mask.bool()[:, None, :, None].expand_as(student_attn)
    return F.mse_loss(student_attn.float()[rows], teacher_attn.float()[rows])


def task_loss(logits: torch.Tensor, labels: torch.Tensor, regression: bool = False) -> torch.Tensor:
    """Hard-label loss; unlabelled items carry -100 (classification) or NaN (regression) and are skipped."""
    if regression:
        values = labels.float().view(-1)
        keep = ~torch.isnan(values)
        if not keep.any():
            return logits.sum() * 0.0
        return F.mse_loss(logits.float().view(-1)[keep], values[keep])
    flat = labels.view(-1)
    if not (flat != -100).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), flat, ignore_index=-100)
