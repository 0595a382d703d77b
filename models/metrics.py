"""Ranking metrics at k (METRICS.md "Recommender evaluation") with bootstrap CIs over users.

Definitions, for a user with truth set T (|T| >= 1) and top-k list L:
precision = |L n T| / k; recall = |L n T| / |T|; hit_rate = 1 if L n T is non-empty;
NDCG = DCG / IDCG with binary gains, DCG = sum over hits at rank r of 1 / log2(r + 1) and
IDCG the DCG of min(|T|, k) hits at the top; MAP (average precision at k) = sum over hits at
rank r of precision@r / min(|T|, k). Coverage = distinct items recommended to the scored
users / catalog size. Every per-user metric is averaged over users; CIs are percentile
bootstrap intervals over users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from models import scoring

PER_USER = ("precision", "recall", "ndcg", "map", "hit_rate")


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Indices of the k best items per row, best first; ``exclude``'s items never appear.

    Equal scores are ordered by item index, also where they straddle the cut (deterministic:
    ``models.scoring.top_k``, the order the API uses too).
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    return scoring.top_k(scores, k)


def per_user_metrics(
    recommended: np.ndarray, truth: sp.csr_matrix, k: int
) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG, MAP and hit rate of the lists ``recommended``.

    Parameters
    ----------
    recommended : (n_users, k) int array of item indices, best first.
    truth : (n_users, n_items) sparse matrix; non-zero = relevant.
    """
    n_users = recommended.shape[0]
    truth = truth.tocsr()
    hits = np.asarray(truth[np.arange(n_users)[:, None], recommended].todense()) > 0
    n_true = np.diff(truth.indptr).astype(np.float64)
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1)
    n_hits = hits.sum(axis=1)
    ideal_n = np.minimum(n_true, k).astype(int)
    idcg = np.cumsum(discounts)[np.maximum(ideal_n, 1) - 1]
    precision_at = np.cumsum(hits, axis=1) / ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": n_hits / k,
            "recall": n_hits / n_true,
            "ndcg": (hits * discounts).sum(axis=1) / idcg,
            "map": (precision_at * hits).sum(axis=1) / np.maximum(ideal_n, 1),
            "hit_rate": (n_hits > 0).astype(np.float64),
        }


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float


def bootstrap_mean(values: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> Estimate:
    """The mean with a percentile bootstrap 95 % interval (resampling users)."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or np.all(values == values[0]):
        v = float(values.mean()) if len(values) else float("nan")
        return Estimate(v, v, v)
    res = bootstrap(
        (values,), np.mean, n_resamples=n_resamples, confidence_level=0.95,
        method="percentile", random_state=np.random.default_rng(seed), vectorized=True,
    )  # fmt: skip
    return Estimate(float(values.mean()), float(res.confidence_interval.low),
                    float(res.confidence_interval.high))  # fmt: skip


def paired_difference(
    candidate: np.ndarray, baseline: np.ndarray, n_resamples: int = 1000, seed: int = 0
) -> Estimate:
    """The mean per-user difference ``candidate - baseline`` with a paired bootstrap 95 % CI.

    Both arrays hold one value per user, the same users in the same order; resampling users
    resamples their differences, so what the two lists share (the user's difficulty) cancels.
    """
    candidate = np.asarray(candidate, dtype=np.float64)
    baseline = np.asarray(baseline, dtype=np.float64)
    if candidate.shape != baseline.shape:
        raise ValueError(
            f"paired values need the same users: {candidate.shape} vs {baseline.shape}"
        )
    return bootstrap_mean(candidate - baseline, n_resamples=n_resamples, seed=seed)


def coverage(
    recommended: np.ndarray, n_items: int, n_resamples: int = 200, seed: int = 0
) -> Estimate:
    """Share of the catalog recommended to anyone, with a bootstrap interval over users."""
    value = len(np.unique(recommended)) / n_items
    n_users = recommended.shape[0]
    if n_users < 2:
        return Estimate(value, value, value)
    rng = np.random.default_rng(seed)
    onehot = sp.csr_matrix(
        (np.ones(recommended.size), (np.repeat(np.arange(n_users), recommended.shape[1]),
                                     recommended.ravel())),
        shape=(n_users, n_items),
    )  # fmt: skip
    draws = np.stack([np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
                      for _ in range(n_resamples)])  # fmt: skip
    covered = (sp.csr_matrix(draws, dtype=np.float64) @ onehot).toarray() > 0
    shares = covered.sum(axis=1) / n_items
    low, high = np.percentile(shares, [2.5, 97.5])
    return Estimate(value, float(low), float(high))
