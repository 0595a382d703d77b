"""Recommenders on one interface: ``fit`` a user x item matrix, ``score`` rows of users.

Every model scores the full catalog for a batch of users as a dense array; excluding what a
user already started is the caller's business (evaluation and serving do it the same way).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from models.interactions import Matrix

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; it threads itself
# implicit's nearest-neighbour fit converts its own transposed copy to CSR, then warns about it
warnings.filterwarnings("ignore", message="Method expects CSR input")


class Recommender:
    """The shared interface.

    Attributes
    ----------
    name : str
        The model name used in ``analytics.model_evaluation`` and the bundle.
    kind : str
        How the bundle stores it: ``factors`` (user and item factors), ``item_item`` (an item x
        item matrix applied to the user's history) or ``none`` (the same list for everyone).
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "none"
    params: dict

    def fit(self, train: Matrix) -> Recommender:  # pragma: no cover - interface
        raise NotImplementedError

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the users ``rows`` whose interactions are ``history``."""
        raise NotImplementedError  # pragma: no cover - interface


@dataclass
class Popularity(Recommender):
    """Items by the number of users who started them."""

    name: ClassVar[str] = "popularity"
    params: dict = field(default_factory=dict)

    def fit(self, train: Matrix) -> Popularity:
        self.item_scores = np.asarray((train.X > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(rows), len(self.item_scores))).copy()


@dataclass
class Trending(Recommender):
    """Recency-weighted popularity: each start counts exp(-age / half_life) (age in days)."""

    name: ClassVar[str] = "trending"
    params: dict = field(default_factory=lambda: {"half_life_days": 3.0})

    def fit(self, train: Matrix) -> Trending:
        if train.age_days is None:
            raise ValueError("trending needs the interactions' ages (Matrix.age_days)")
        ages = train.age_days.tocoo()
        weight = np.exp(-np.log(2) * ages.data / self.params["half_life_days"])
        self.item_scores = np.bincount(ages.col, weights=weight, minlength=train.X.shape[1]).astype(
            np.float32
        )
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(rows), len(self.item_scores))).copy()


@dataclass
class RandomScores(Recommender):
    """Random scores: a sanity floor, and the deliberately broken model of the gate's tests."""

    name: ClassVar[str] = "random"
    params: dict = field(default_factory=lambda: {"seed": 0})

    def fit(self, train: Matrix) -> RandomScores:
        self.n_items = train.X.shape[1]
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        rng = np.random.default_rng(self.params["seed"])
        return rng.random((len(rows), self.n_items), dtype=np.float32)


class FactorModel(Recommender):
    """A model of implicit's with user and item factors (``self.model``): score = U V^T."""

    kind: ClassVar[str] = "factors"

    @property
    def user_factors(self) -> np.ndarray:
        return np.asarray(self.model.user_factors)

    @property
    def item_factors(self) -> np.ndarray:
        return np.asarray(self.model.item_factors)

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[rows] @ self.item_factors.T


@dataclass
class ALS(FactorModel):
    """implicit's alternating least squares on the confidence matrix."""

    name: ClassVar[str] = "als"
    params: dict = field(
        default_factory=lambda: {"factors": 64, "regularization": 0.05, "alpha": 2.0,
                                 "iterations": 15}
    )  # fmt: skip

    def fit(self, train: Matrix) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        self.model = AlternatingLeastSquares(
            factors=int(self.params["factors"]),
            regularization=float(self.params["regularization"]),
            alpha=float(self.params["alpha"]),
            iterations=int(self.params["iterations"]),
            random_state=0,
        )
        self.model.fit(train.X, show_progress=False)
        return self

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Factors of users not in training, from their interactions (one ALS half-step)."""
        return np.asarray(self.model.recalculate_user(np.arange(history.shape[0]), history))


@dataclass
class BPR(FactorModel):
    """implicit's Bayesian personalized ranking on which items were started."""

    name: ClassVar[str] = "bpr"
    params: dict = field(
        default_factory=lambda: {"factors": 64, "learning_rate": 0.05, "regularization": 0.01,
                                 "iterations": 100}
    )  # fmt: skip

    def fit(self, train: Matrix) -> BPR:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.model = BayesianPersonalizedRanking(
            factors=int(self.params["factors"]),
            learning_rate=float(self.params["learning_rate"]),
            regularization=float(self.params["regularization"]),
            iterations=int(self.params["iterations"]),
            random_state=0,
        )
        binary = train.X.copy()
        binary.data[:] = 1.0
        self.model.fit(binary, show_progress=False)
        return self


def _item_item_scores(history: sp.csr_matrix, rows: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.asarray(history[rows] @ B, dtype=np.float32)


@dataclass
class ItemKNN(Recommender):
    """Item-item cosine neighbours (implicit's CosineRecommender), K per item."""

    name: ClassVar[str] = "item_knn"
    kind: ClassVar[str] = "item_item"
    params: dict = field(default_factory=lambda: {"K": 100})

    def fit(self, train: Matrix) -> ItemKNN:
        from implicit.nearest_neighbours import CosineRecommender

        model = CosineRecommender(K=int(self.params["K"]))
        model.fit(train.X.tocsr(), show_progress=False)
        self.item_item = np.asarray(model.similarity.todense(), dtype=np.float32)
        np.fill_diagonal(self.item_item, 0.0)
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return _item_item_scores(history, rows, self.item_item)


@dataclass
class EASE(Recommender):
    """Embarrassingly shallow autoencoder (Steck 2019): B = I - P diagMat(1 / diag(P)),
    P = (X^T X + lambda I)^-1, closed form in numpy; cheap for micro-drama catalogs."""

    name: ClassVar[str] = "ease"
    kind: ClassVar[str] = "item_item"
    params: dict = field(default_factory=lambda: {"lambda": 200.0, "binary": True})

    def fit(self, train: Matrix) -> EASE:
        X = train.X.copy()
        if self.params.get("binary", True):
            X.data[:] = 1.0
        gram = np.asarray((X.T @ X).todense(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += float(self.params["lambda"])
        P = np.linalg.inv(gram)
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0.0)
        self.item_item = B.astype(np.float32)
        self.binary = bool(self.params.get("binary", True))
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        if self.binary:
            history = history.copy()
            history.data[:] = 1.0
        return _item_item_scores(history, rows, self.item_item)


@dataclass
class Blend(Recommender):
    """A learned model blended with trending: (1 - w) x model + w x trending, each scaled to
    [0, 1] per user, w tuned on the validation period."""

    base: Recommender = field(default_factory=ALS)
    trending: Trending = field(default_factory=Trending)
    params: dict = field(default_factory=lambda: {"weight": 0.3})

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}+trending"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.base.kind

    def fit(self, train: Matrix) -> Blend:
        self.base.fit(train)
        self.trending.fit(train)
        return self

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        w = float(self.params["weight"])
        return (1 - w) * minmax_rows(self.base.score(rows, history)) + w * minmax_rows(
            self.trending.score(rows, history)
        )


@dataclass
class HeadRerank(Blend):
    """Trending's head re-ranked for each user: the ``head`` most trending items come first,
    ordered by the blend of model and trending; the rest follow in trending order."""

    params: dict = field(default_factory=lambda: {"weight": 0.5, "head": 50})

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}>trending_head"

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        trend = self.trending.item_scores
        head = int(min(self.params["head"], len(trend)))
        in_head = np.zeros(len(trend), dtype=bool)
        in_head[np.argsort(-trend, kind="stable")[:head]] = True
        blended = super().score(rows, history)
        tail = minmax_rows(trend[None, :]) - 2.0  # below every head item
        return np.where(in_head[None, :], blended, tail)


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] (a constant row becomes 0)."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


REGISTRY: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (ALS, BPR, ItemKNN, EASE, Popularity, Trending, RandomScores)
}
BASELINES = ("popularity", "trending")


def make(name: str, params: dict | None = None) -> Recommender:
    """A model by name, with default parameters updated by ``params``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
    model = REGISTRY[name]()
    model.params = {**model.params, **(params or {})}
    return model
