"""Contrastive and clustering losses on embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): each view's positive is the other view of the same spike; the other
    2n - 2 views in the batch are negatives."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def supervised_contrastive(
    z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """SupCon (Khosla et al. 2020): all views with the same label are positives. Spikes
    labelled -1 (unknown) are neither anchors nor positives; 0 when no anchor has one."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    labels = torch.cat([labels, labels])
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    known = labels >= 0
    positives = (labels[:, None] == labels[None, :]) & ~self_mask & known[:, None]
    n_positives = positives.sum(1)
    anchors = n_positives > 0
    if not anchors.any():
        return z.sum() * 0.0
    summed = log_prob.masked_fill(~positives, 0.0).sum(1)
    return -(summed[anchors] / n_positives[anchors]).mean()


def atom_loss(z: torch.Tensor, centroids: torch.Tensor, epsilon: float = 1e-3) -> torch.Tensor:
    """The "Atom loss" of the autoencoder-ensemble report, averaged over the batch:
    L_i = sum_{j != i} 1/d(i,j)^3 + sum_k (1/d(i,k)^3 - 1/d(i,k)^2). Points repel each other;
    each centroid k pulls points towards the distance where its term is lowest (1.5)."""
    pair = torch.cdist(z, z) + epsilon
    off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    repulsion = (pair.pow(-3) * off_diagonal).sum(1)
    to_centroid = torch.cdist(z, centroids) + epsilon
    attraction = (to_centroid.pow(-3) - to_centroid.pow(-2)).sum(1)
    return (repulsion + attraction).mean()
