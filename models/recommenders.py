"""Recommenders on one interface: ``fit`` a user x item matrix, ``export`` how to score.

A fitted model exports a scorer description and the arrays it needs (``models.scoring``);
``score`` runs that kernel, which is also what the batch lists and the API run on the
published bundle. Every model scores the full catalog for a batch of users as a dense array;
excluding what a user already started is the caller's business.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from models import scoring
from models.interactions import Matrix
from models.scoring import Scorer

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; it threads itself
# implicit's nearest-neighbour fit converts its own transposed copy to CSR, then warns about it
warnings.filterwarnings("ignore", message="Method expects CSR input")


class Recommender:
    """The shared interface.

    Attributes
    ----------
    name : str
        The model name used in ``analytics.model_evaluation`` and the bundle.
    """

    name: ClassVar[str] = ""
    params: dict

    def fit(self, train: Matrix) -> Recommender:  # pragma: no cover - interface
        raise NotImplementedError

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        """How the fitted model scores: the scorer description and its arrays (not copies)."""
        raise NotImplementedError  # pragma: no cover - interface

    def score(self, rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Scores (float32) of every item for the users ``rows`` whose interactions are
        ``history``: the scoring kernel on :meth:`export`."""
        return scoring.score(*self.export(), rows, history)


@dataclass
class Popularity(Recommender):
    """Items by the number of users who started them — all of them (``window_days`` None), or
    those who watched the item in the last ``window_days`` days before the cut (tuned)."""

    name: ClassVar[str] = "popularity"
    params: dict = field(default_factory=lambda: {"window_days": None})

    def fit(self, train: Matrix) -> Popularity:
        window = self.params.get("window_days")
        if window is None:
            counts = np.diff(train.X.tocsc().indptr)
        else:
            if train.age_days is None:
                raise ValueError("a popularity window needs the interactions' ages")
            ages = train.age_days.tocoo()
            counts = np.bincount(ages.col[ages.data <= float(window)], minlength=train.X.shape[1])
        self.item_scores = np.asarray(counts, dtype=np.float32)
        return self

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        return Scorer("list", self.name), {"item_scores": self.item_scores}


@dataclass
class Trending(Recommender):
    """Recency-weighted popularity: each user's interaction counts 2^(-age / half_life), age in
    days from its last view to the cut; the half-life is tuned (hours to days)."""

    name: ClassVar[str] = "trending"
    params: dict = field(default_factory=lambda: {"half_life_days": 1.0})

    def fit(self, train: Matrix) -> Trending:
        if train.age_days is None:
            raise ValueError("trending needs the interactions' ages (Matrix.age_days)")
        ages = train.age_days.tocoo()
        weight = np.exp(-np.log(2) * ages.data / self.params["half_life_days"])
        self.item_scores = np.bincount(ages.col, weights=weight, minlength=train.X.shape[1]).astype(
            np.float32
        )
        return self

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        return Scorer("list", self.name), {"item_scores": self.item_scores}


@dataclass
class RandomScores(Recommender):
    """Random scores: a sanity floor, and the deliberately broken model of the gate's tests."""

    name: ClassVar[str] = "random"
    params: dict = field(default_factory=lambda: {"seed": 0})

    def fit(self, train: Matrix) -> RandomScores:
        self.n_items = train.X.shape[1]
        return self

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        params = {"seed": int(self.params["seed"]), "n_items": int(self.n_items)}
        return Scorer("random", self.name, params), {}


class FactorModel(Recommender):
    """A model of implicit's with user and item factors (``self.model``): score = U V^T."""

    @property
    def user_factors(self) -> np.ndarray:
        return np.asarray(self.model.user_factors)

    @property
    def item_factors(self) -> np.ndarray:
        return np.asarray(self.model.item_factors)

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        return Scorer("factors", self.name), {
            "user_factors": np.ascontiguousarray(self.user_factors, dtype=np.float32),
            "item_factors": np.ascontiguousarray(self.item_factors, dtype=np.float32),
        }


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


@dataclass
class ItemKNN(Recommender):
    """Item-item cosine neighbours (implicit's CosineRecommender), K per item."""

    name: ClassVar[str] = "item_knn"
    params: dict = field(default_factory=lambda: {"K": 100})

    def fit(self, train: Matrix) -> ItemKNN:
        from implicit.nearest_neighbours import CosineRecommender

        model = CosineRecommender(K=int(self.params["K"]))
        model.fit(train.X.tocsr(), show_progress=False)
        self.item_item = np.asarray(model.similarity.todense(), dtype=np.float32)
        np.fill_diagonal(self.item_item, 0.0)
        return self

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        spec = Scorer("item_item", self.name, {"history": "confidence"})
        return spec, {"item_item": self.item_item}


@dataclass
class EASE(Recommender):
    """Embarrassingly shallow autoencoder (Steck 2019): B = I - P diagMat(1 / diag(P)),
    P = (X^T X + lambda I)^-1, closed form in numpy; cheap for micro-drama catalogs."""

    name: ClassVar[str] = "ease"
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

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        history = "binary" if self.binary else "confidence"  # as it was fitted
        return Scorer("item_item", self.name, {"history": history}), {"item_item": self.item_item}


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

    def fit(self, train: Matrix) -> Blend:
        self.base.fit(train)
        self.trending.fit(train)
        return self

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        base, arrays = self.base.export()
        params = {"weight": float(self.params["weight"]), "base": base}
        return Scorer("blend", self.name, params), {
            **arrays, "trending_scores": self.trending.item_scores}  # fmt: skip


@dataclass
class HeadRerank(Blend):
    """Trending's head re-ranked for each user: the ``head`` most trending items come first,
    ordered by the blend of model and trending; the rest follow in trending order."""

    params: dict = field(default_factory=lambda: {"weight": 0.5, "head": 50})

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}>trending_head"

    def export(self) -> tuple[Scorer, dict[str, np.ndarray]]:
        base, arrays = self.base.export()
        params = {"weight": float(self.params["weight"]), "head": int(self.params["head"]),
                  "base": base}  # fmt: skip
        return Scorer("head_rerank", self.name, params), {
            **arrays, "trending_scores": self.trending.item_scores}  # fmt: skip


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


def item_similarity(X: sp.csr_matrix) -> np.ndarray:
    """Cosine similarity of items over users who started them (diagonal 0), float32."""
    binary = X.copy().astype(np.float32)
    binary.data[:] = 1.0
    co = np.asarray((binary.T @ binary).todense(), dtype=np.float32)
    norms = np.sqrt(np.diag(co))
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = co / np.outer(norms, norms)
    sim = np.nan_to_num(sim, nan=0.0, posinf=0.0)
    np.fill_diagonal(sim, 0.0)
    return sim.astype(np.float32)
