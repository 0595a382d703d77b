"""The scoring kernel: one pure function per kind of scorer, for evaluation, batch lists and the API.

A trained model exports a :class:`Scorer` — a small JSON-able description,
``{"scorer": ..., "model": ..., "params": {...}}`` — and the named numpy arrays it needs
(:meth:`models.recommenders.Recommender.export`). The bundle stores exactly these (the spec in
``manifest.json``, the arrays in ``arrays.npz``), and everything that ranks stories calls
:func:`bind` / :func:`score` on them: offline evaluation, the pipeline's batch
recommendations, and the API for one user at a time. Nothing here knows of Dagster, HTTP or
model-name grammars.

Scores are ``float32``, one row per user, one column per item, in a fresh array the caller
may modify (excluding started items is the caller's business). A user's row never depends on
which other users are in the batch: every kind computes each row with the same operations in
the same order, so the API's 1-row batch gives bit-for-bit the row of the pipeline's batch.

- ``factors``: ``item_factors @ user_factors[u]``, one BLAS matrix-vector product per user
  (numpy's ``matmul`` over a stack of users calls the same ``gemv`` for each);
- ``item_item``: the user's history row (confidences, or 1 for ``history: binary``) times the
  ``item_item`` matrix, accumulated in history order (scipy's CSR × dense routine);
- ``list``: the same ``item_scores`` for everyone (popularity, trending);
- ``blend``: ``(1 - w) · minmax(base) + w · minmax(trending_scores)``, per user;
- ``head_rerank``: the ``head`` most trending items first, ordered by that blend; the rest
  after them in trending order;
- ``precomputed``: per-user ranked lists computed by the pipeline (the two-stage ranker's
  ``top_items``, ``-1``-padded) first, in their order; every other item after them by the
  ``base`` scorer (min-max scaled) — the cheap path, also for users without a list;
- ``random``: a hash of (seed, user, item) in [0, 1): the evaluation's sanity floor.

Adding a scorer is one entry of :data:`SCORERS`: its arrays (dtype and shape), its parameters,
the manifest ``kind`` it reports, and the function that builds its score function.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

try:  # the routine behind scipy's ``csr_matrix @ dense``, without its per-call overhead
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a scipy that moved it: the public product instead
    _csr_matvecs = None

DTYPE = np.float32

#: the API's ``source`` for a model's items, where it is not the model's own name
SOURCE_NAMES = {"popularity": "popular"}


# ---------------------------------------------------------------------------------------------
# histories


class History(NamedTuple):
    """Users' interactions as CSR arrays: row ``u`` is ``indices[indptr[u]:indptr[u + 1]]``
    with ``weights`` (the bundle's ``history_*`` arrays, or a scipy CSR matrix's)."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, history: History | sp.csr_matrix | sp.csr_array | None) -> History | None:
        if history is None or isinstance(history, History):
            return history
        csr = history.tocsr()
        return cls(csr.indptr, csr.indices, csr.data)

    def take(self, rows: np.ndarray) -> History:
        """The rows ``rows`` as a history of their own (indices int32, weights float32)."""
        if len(rows) == 1:  # the API's case: one slice, no gather
            start, end = int(self.indptr[rows[0]]), int(self.indptr[rows[0] + 1])
            indptr = np.array([0, end - start], dtype=np.int32)
            indices, weights = self.indices[start:end], self.weights[start:end]
        else:
            starts = self.indptr[rows].astype(np.int64)
            lengths = self.indptr[rows + 1].astype(np.int64) - starts
            indptr64 = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr64[1:])
            pos = np.repeat(starts - indptr64[:-1], lengths) + np.arange(indptr64[-1])
            indptr = indptr64.astype(np.int32)
            indices, weights = self.indices[pos], self.weights[pos]
        return History(
            indptr,
            indices.astype(np.int32, copy=False),
            weights.astype(DTYPE, copy=False),
        )


def history_times(history: History, matrix: np.ndarray) -> np.ndarray:
    """``history`` (n rows) as a dense matrix times ``matrix`` (items × k): (n, k) float32.

    Each output row is accumulated over that row's entries in order, whatever the other rows:
    scipy's CSR × dense routine, called directly (the public product costs ~30 µs a call).
    """
    n_rows = len(history.indptr) - 1
    n_cols = matrix.shape[1]
    if _csr_matvecs is None:  # pragma: no cover - see the import
        csr = sp.csr_matrix((history.weights, history.indices, history.indptr),
                            shape=(n_rows, matrix.shape[0]))  # fmt: skip
        return np.asarray(csr @ matrix, dtype=DTYPE)
    out = np.zeros((n_rows, n_cols), dtype=DTYPE)
    _csr_matvecs(n_rows, matrix.shape[0], n_cols, history.indptr, history.indices,
                 history.weights, matrix.ravel(), out.ravel())  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# the description


ScoreFn = Callable[[np.ndarray, History | None], np.ndarray]


@dataclass(frozen=True)
class Scorer:
    """How to score: a scorer of :data:`SCORERS`, its parameters, and the model it serves.

    Parameters
    ----------
    scorer : str
        A key of :data:`SCORERS`.
    model : str
        The name of the model as evaluated (``als``, ``ease+trending``…): a label, never
        parsed; the API's ``source`` is derived from it (:attr:`source`).
    params : mapping
        The scorer's parameters (JSON values); a wrapping scorer's ``base`` is a Scorer (or
        its JSON form).
    """

    scorer: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = SCORERS.get(self.scorer)
        if kind is None:
            raise ValueError(f"unknown scorer {self.scorer!r}; known: {', '.join(sorted(SCORERS))}")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"scorer {self.scorer!r} needs a model name, got {self.model!r}")
        params = dict(self.params)
        expected = set(kind.params) | ({"base"} if kind.wraps else set())
        if set(params) != expected:
            raise ValueError(
                f"scorer {self.scorer!r} takes params {sorted(expected)}, got {sorted(params)}"
            )
        for name, check in kind.params.items():
            problem = check(params[name])
            if problem:
                raise ValueError(f"scorer {self.scorer!r}: {name} {problem}, got {params[name]!r}")
        if kind.wraps:
            base = params["base"]
            params["base"] = base if isinstance(base, Scorer) else Scorer.from_json(base)
        object.__setattr__(self, "params", types.MappingProxyType(params))
        names = [name for name, _owner, _spec in self._tree_arrays()]
        if len(names) != len(set(names)):
            raise ValueError(f"scorer {self.scorer!r} uses an array name twice: {sorted(names)}")

    def _tree_arrays(self) -> list[tuple[str, str, tuple[np.dtype, tuple]]]:
        kind = SCORERS[self.scorer]
        base = self.params.get("base") if kind.wraps else None
        own = [(name, self.scorer, spec) for name, spec in kind.arrays.items()]
        return (base._tree_arrays() if isinstance(base, Scorer) else []) + own

    @property
    def base(self) -> Scorer | None:
        """The scorer a wrapping scorer (a blend) wraps, else ``None``."""
        return self.params["base"] if SCORERS[self.scorer].wraps else None

    @property
    def leaf(self) -> Scorer:
        """The innermost scorer: the model's own (``self`` unless this wraps another; a
        ``precomputed`` scorer is its model's own, its base only the cheap path)."""
        if self.base is None or SCORERS[self.scorer].opaque:
            return self
        return self.base.leaf

    @property
    def kind(self) -> str:
        """What the bundle manifest calls the scoring: the innermost scorer's ``kind``."""
        return SCORERS[self.leaf.scorer].kind

    @property
    def source(self) -> str:
        """The API's ``source`` of this model's items (the one place it is decided): the
        innermost model's name (a blend or re-ranked head of ``ease`` is ``ease``: the
        documented sources are model names, docs/api.md), ``popular`` for the popularity
        model."""
        model = self.leaf.model
        return SOURCE_NAMES.get(model, model)

    def array_specs(self) -> dict[str, tuple[str, np.dtype, tuple]]:
        """Array name -> (the scorer that needs it, dtype, shape with symbolic dimensions)."""
        return {name: (owner, *spec) for name, owner, spec in self._tree_arrays()}

    def to_json(self) -> dict[str, Any]:
        params = {k: (v.to_json() if isinstance(v, Scorer) else v) for k, v in self.params.items()}
        return {"scorer": self.scorer, "model": self.model, "params": params}

    @classmethod
    def from_json(cls, obj: Any) -> Scorer:
        """Parse and validate a JSON description (``ValueError`` says what is wrong)."""
        if not isinstance(obj, Mapping) or set(obj) != {"scorer", "model", "params"}:
            raise ValueError(f"a scorer is an object with keys scorer, model, params; got {obj!r}")
        if not isinstance(obj["params"], Mapping):
            raise ValueError(f"scorer params must be an object, got {obj['params']!r}")
        return cls(obj["scorer"], obj["model"], obj["params"])


# ---------------------------------------------------------------------------------------------
# validation


def check_array(
    name: str, arr: Any, dtype: Any, shape: tuple[int | None, ...], fail: type[Exception]
) -> np.ndarray:
    """``arr`` as a numpy array of ``dtype`` and ``shape`` (None: any size), all finite."""
    if not isinstance(arr, np.ndarray):
        raise fail(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise fail(f"{name} must be {np.dtype(dtype)}, got {arr.dtype}")
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=False)
    ):
        want_txt = "×".join("?" if s is None else str(s) for s in shape)
        raise fail(f"{name} has shape {arr.shape}, expected {want_txt}")
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise fail(f"{name} holds NaN or infinite values")
    return arr


def validate(
    spec: Scorer,
    arrays: Mapping[str, np.ndarray],
    n_users: int,
    n_items: int,
    fail: type[Exception] = ValueError,
) -> None:
    """Raise ``fail`` naming the first problem of ``arrays`` for ``spec``: a missing or extra
    array, a wrong dtype or shape (``users`` = n_users rows, ``items`` = n_items), a NaN."""
    needed = spec.array_specs()
    extra = set(arrays) - set(needed)
    if extra:
        raise fail(f"arrays {sorted(extra)} do not belong to scorer {spec.scorer!r}")
    dims: dict[str, int] = {"users": n_users, "items": n_items}
    for name, (owner, dtype, shape) in needed.items():
        arr = arrays.get(name)
        if not isinstance(arr, np.ndarray) or arr.ndim != len(shape):
            raise fail(f"scorer kind {owner!r} needs a {len(shape)}-D {name} array")
        for symbol, got in zip(shape, arr.shape, strict=True):
            dims.setdefault(symbol, got)  # a free dimension (factors) is set by its first use
        check_array(name, arr, dtype, tuple(dims[s] for s in shape), fail)
    node: Scorer | None = spec
    while node is not None:
        for name, dim in SCORERS[node.scorer].sizes.items():
            if node.params[name] != dims[dim]:
                raise fail(f"scorer {node.scorer!r}: {name} is {node.params[name]}, "
                           f"expected {dims[dim]}")  # fmt: skip
        check = SCORERS[node.scorer].check
        problem = check(arrays, n_items) if check is not None else None
        if problem:
            raise fail(f"scorer {node.scorer!r}: {problem}")
        node = node.base


# ---------------------------------------------------------------------------------------------
# the score functions


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] (a constant row becomes 0)."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, 1.0)


def _factors(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    users = arrays["user_factors"]
    items = np.ascontiguousarray(arrays["item_factors"])

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        if len(rows) == 1:  # the API's case: the very same gemv call, with less numpy overhead
            return (items @ users[rows[0]])[None, :]
        # (items × f) @ (rows × f × 1): one gemv per user, the same call for any batch size
        return np.matmul(items, users[rows, :, None])[:, :, 0]

    return score


def _item_item(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    matrix = np.ascontiguousarray(arrays["item_item"])
    binary = spec.params["history"] == "binary"

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        if history is None:
            raise ValueError("scorer 'item_item' needs the users' histories")
        part = history.take(rows)
        if binary:
            part = part._replace(weights=np.ones_like(part.weights))
        return history_times(part, matrix)

    return score


def _list(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    item_scores = arrays["item_scores"]

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        return np.broadcast_to(item_scores, (len(rows), len(item_scores))).copy()

    return score


def _random(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    n_items = int(spec.params["n_items"])
    items = np.arange(n_items, dtype=np.uint64)
    offset = np.uint64(int(spec.params["seed"]) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        # splitmix64 of (seed, user, item): the same numbers for a user in any batch
        x = np.asarray(rows, dtype=np.uint64)[:, None] * np.uint64(n_items) + items
        x = x + offset
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
        return (x >> np.uint64(40)).astype(DTYPE) / DTYPE(1 << 24)

    return score


def _blend(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    base = bind(spec.params["base"], arrays)
    weight = float(spec.params["weight"])
    trending = minmax_rows(arrays["trending_scores"][None, :])

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        return (1 - weight) * minmax_rows(base(rows, history)) + weight * trending

    return score


def _head_rerank(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    blended = _blend(spec, arrays)
    trend = arrays["trending_scores"]
    head = min(int(spec.params["head"]), len(trend))
    in_head = np.zeros((1, len(trend)), dtype=bool)
    in_head[0, np.argsort(-trend, kind="stable")[:head]] = True
    tail = minmax_rows(trend[None, :]) - 2.0  # below every head item

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        return np.where(in_head, blended(rows, history), tail)

    return score


def precomputed_values(length: int) -> np.ndarray:
    """The scores (float32) the ``precomputed`` scorer gives ranks ``0..length-1`` of a listed
    item: ``1 + (length - rank) / length``, in (1, 2], strictly decreasing and above every
    other item (the base is min-max scaled into [0, 1]). The API's fast path answers from them
    without scoring the base."""
    ranks = np.arange(length, dtype=DTYPE)
    return (DTYPE(1) + (length - ranks) / DTYPE(length)).astype(DTYPE)


def _precomputed(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> ScoreFn:
    base = bind(spec.params["base"], arrays)
    lists = arrays["top_items"]
    length = lists.shape[1]
    values = precomputed_values(length)

    def score(rows: np.ndarray, history: History | None) -> np.ndarray:
        out = minmax_rows(base(rows, history)).astype(DTYPE, copy=False)
        if len(rows) == 1:  # the API's case
            listed = lists[rows[0]]
            keep = listed >= 0
            out[0, listed[keep]] = values[keep]
            return out
        listed = lists[rows]
        r, c = np.nonzero(listed >= 0)
        out[r, listed[r, c]] = values[c]
        return out

    return score


def _check_precomputed(arrays: Mapping[str, np.ndarray], n_items: int) -> str | None:
    lists = arrays["top_items"]
    if lists.size and (lists.min() < -1 or lists.max() >= n_items):
        return f"top_items must be item indices in 0..{n_items - 1} or -1 (no item)"
    return None


# ---------------------------------------------------------------------------------------------
# the registry


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {allowed}"


def _weight(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return None if ok and 0 <= v <= 1 else "must be a number in [0, 1]"


def _count(minimum: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= minimum
        return None if ok else f"must be an integer >= {minimum}"

    return check


@dataclass(frozen=True)
class ScorerKind:
    """One entry of :data:`SCORERS`.

    Attributes
    ----------
    build : callable
        ``build(spec, arrays)`` -> the score function ``(rows, history) -> (n_rows, n_items)``.
    arrays : mapping
        The arrays it needs: name -> (dtype, shape); shape entries ``users`` and ``items`` are
        the numbers of users and items, other names free sizes shared between the arrays.
    params : mapping
        Its parameters: name -> check returning an error text or ``None``.
    kind : str
        What the bundle manifest (and ``/v1/model``) calls this way of scoring.
    wraps : bool
        Whether it wraps a ``base`` scorer (whose kind it reports).
    sizes : mapping
        Parameters that must equal a dimension (e.g. ``n_items`` -> ``items``).
    opaque : bool
        A wrapping scorer that is its model's own (``precomputed``): it reports its own kind
        and model, its ``base`` being only how the rest is ranked.
    check : callable, optional
        ``check(arrays, n_items)`` -> an error text or ``None``: what dtype and shape cannot
        say (e.g. index ranges).
    """

    build: Callable[[Scorer, Mapping[str, np.ndarray]], ScoreFn]
    arrays: Mapping[str, tuple[np.dtype, tuple]] = field(default_factory=dict)
    params: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    kind: str = ""
    wraps: bool = False
    sizes: Mapping[str, str] = field(default_factory=dict)
    opaque: bool = False
    check: Callable[[Mapping[str, np.ndarray], int], str | None] | None = None


_F32 = np.dtype(np.float32)
SCORERS: dict[str, ScorerKind] = {
    "factors": ScorerKind(
        _factors,
        arrays={
            "user_factors": (_F32, ("users", "factors")),
            "item_factors": (_F32, ("items", "factors")),
        },
        kind="factors",
    ),  # fmt: skip
    "item_item": ScorerKind(
        _item_item,
        arrays={"item_item": (_F32, ("items", "items"))},
        params={"history": _one_of("binary", "confidence")},
        kind="item_item",
    ),
    "list": ScorerKind(_list, arrays={"item_scores": (_F32, ("items",))}, kind="none"),
    "random": ScorerKind(
        _random,
        params={"seed": _count(0), "n_items": _count(0)},
        kind="none",
        sizes={"n_items": "items"},
    ),
    "blend": ScorerKind(
        _blend,
        arrays={"trending_scores": (_F32, ("items",))},
        params={"weight": _weight},
        wraps=True,
    ),
    "head_rerank": ScorerKind(
        _head_rerank,
        arrays={"trending_scores": (_F32, ("items",))},
        params={"weight": _weight, "head": _count(1)},
        wraps=True,
    ),
    "precomputed": ScorerKind(
        _precomputed,
        arrays={"top_items": (np.dtype(np.int32), ("users", "length"))},
        params={"length": _count(1)},
        kind="precomputed",
        wraps=True,
        opaque=True,
        sizes={"length": "length"},
        check=_check_precomputed,
    ),
}
#: the manifest kinds of the scorers that score on their own
KINDS = tuple(dict.fromkeys(k.kind for k in SCORERS.values() if not k.wraps or k.opaque))


# ---------------------------------------------------------------------------------------------
# the entry points


class Kernel:
    """A scorer bound to its arrays: ``kernel(rows, history)`` -> (len(rows), n_items) float32.

    Binding does the per-model work once (e.g. the blend's scaled trending scores); the
    arrays are used as given, not copied (call :func:`validate` first on untrusted ones).
    """

    def __init__(self, spec: Scorer, arrays: Mapping[str, np.ndarray]) -> None:
        missing = set(spec.array_specs()) - set(arrays)
        if missing:
            raise ValueError(f"scorer {spec.scorer!r} lacks arrays {sorted(missing)}")
        self.spec = spec
        self._score = SCORERS[spec.scorer].build(spec, arrays)

    def __call__(
        self,
        rows: np.ndarray | list[int],
        history: History | sp.csr_matrix | sp.csr_array | None = None,
    ) -> np.ndarray:
        if not isinstance(history, History):
            history = History.of(history)
        return self._score(np.asarray(rows, dtype=np.int64), history)  # float32 by construction


def bind(spec: Scorer, arrays: Mapping[str, np.ndarray]) -> Kernel:
    """``spec`` bound to ``arrays``, ready to score batches or single users."""
    return Kernel(spec, arrays)


def score(
    spec: Scorer,
    arrays: Mapping[str, np.ndarray],
    rows: np.ndarray | list[int],
    history: History | sp.csr_matrix | sp.csr_array | None = None,
) -> np.ndarray:
    """Scores of every item for the users ``rows`` (history rows): (len(rows), n_items)."""
    return bind(spec, arrays)(rows, history)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best scores of each row of ``scores`` (2-D), best first.

    The order is total: higher score first, then lower index — also for which of several
    equal scores make the cut — so any two callers with the same scores get the same list.
    """
    m, n = scores.shape
    k = min(k, n)
    if k <= 0:
        return np.empty((m, 0), dtype=np.int64)
    if m == 1:  # the API's case, in 1-D operations (the same order, computed directly)
        return _top_k_row(scores[0], k)[None, :]
    if k < n:
        chosen = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, chosen[:, k - 1 :], axis=1)  # the k-th best score
        tied = scores == kth
        cut = tied.sum(axis=1) > (np.take_along_axis(tied, chosen, axis=1)).sum(axis=1)
        if cut.any():  # equal scores straddle the cut: keep the lowest indices among them
            r = np.flatnonzero(cut)
            above = scores[r] > kth[r]
            room = k - above.sum(axis=1, keepdims=True)
            keep = above | (tied[r] & (np.cumsum(tied[r], axis=1) <= room))
            chosen[r] = np.nonzero(keep)[1].reshape(len(r), k)
    else:
        chosen = np.broadcast_to(np.arange(n), (m, n)).copy()
    chosen.sort(axis=1)  # by index, so the stable sort below breaks ties by index
    order = np.argsort(-np.take_along_axis(scores, chosen, axis=1), axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1)


def _top_k_row(scores: np.ndarray, k: int) -> np.ndarray:
    n = scores.shape[0]
    if k < n:
        chosen = np.argpartition(-scores, k - 1)[:k]
        kth = scores[chosen[k - 1]]  # the k-th best score (argpartition put it in place)
        if np.count_nonzero(scores == kth) > np.count_nonzero(scores[chosen] == kth):
            above = np.flatnonzero(scores > kth)
            chosen = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    else:
        chosen = np.arange(n)
    return chosen[np.lexsort((chosen, -scores[chosen]))]
