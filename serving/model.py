"""Scoring for the recommendation API: one loaded bundle, precomputed for fast requests.

Everything that does not depend on the request is computed once when a bundle is loaded
(off the request path, by the watcher thread): the user-id index, per-language lookup arrays
from a story to its series version, the stories without a version in each language, the
per-language ranked lists, the scoring kernel bound to the bundle's scorer and arrays. A
request is then a handful of numpy operations over ``n_stories`` values — the kernel's scores
for a 1-row batch (``models.scoring``: the very function that evaluated the model and wrote
``analytics.recommendations``; for factors a matrix-vector product), two ``np.put`` of
``-inf`` (started stories, stories missing in the language) and an ``argpartition`` — never a
Python loop over the catalogue.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from models import lists, scoring
from models.bundle import Bundle

#: Weight of the similarity to ``after_series_id`` when blended with the user's own scores
#: (both scaled to [0, 1] first): 0.5 gives the just-finished series as much say as the
#: user's whole history, which is what "steer toward it" means without discarding taste.
AFTER_WEIGHT = 0.5


class IdIndex:
    """Exact lookup of string ids -> rows, in numpy arrays rather than a Python dict.

    A dict of a million ids is built and freed by single C calls that hold the GIL for
    hundreds of milliseconds — on the watcher thread, that stalls every request in flight
    during a hot reload. Here the ids become one fixed-width byte array (built from the Arrow
    buffers, no Python string per id) sorted by numpy; a lookup is a binary search (~2 µs).

    Parameters
    ----------
    ids : polars.Series
        Unique, non-null string ids.
    rows : numpy.ndarray
        The row of each id (same length).
    """

    _CHUNK = 65536  # rows gathered at a time: bounds the temporary index arrays

    def __init__(self, ids: pl.Series, rows: np.ndarray) -> None:
        arr = ids.to_arrow()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.cast(pa.large_string())
        n = len(arr)
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if n else np.empty(0, np.uint8)
        lengths = np.diff(offsets)
        width = max(int(lengths.max()) if n else 1, 1)
        mat = np.zeros((n, width), dtype=np.uint8)
        cols = np.arange(width)
        for start in range(0, n, self._CHUNK):
            stop = min(start + self._CHUNK, n)
            mask = cols < lengths[start:stop, None]
            pos = offsets[start:stop, None] + cols
            mat[start:stop][mask] = data[pos[mask]]
        fixed = mat.view(f"S{width}").ravel()
        order = np.argsort(fixed, kind="stable")
        self.sorted = fixed[order]
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.width = width
        self.size = n

    def __len__(self) -> int:
        return self.size

    def get(self, key: str) -> int | None:
        """The row of ``key``, or ``None``."""
        try:
            raw = key.encode()
        except UnicodeEncodeError:  # lone surrogates from a badly encoded path: not an id here
            return None
        # numpy's fixed-width bytes ignore trailing NULs: such a key is never an exact match
        if not raw or len(raw) > self.width or raw.endswith(b"\0"):
            return None
        i = int(np.searchsorted(self.sorted, raw))
        if i < self.size and self.sorted[i] == raw:
            return int(self.rows[i])
        return None


class UnknownSeries(LookupError):
    """A series id that is not in the loaded catalogue."""


class UnknownLanguage(LookupError):
    """A language for which the loaded catalogue has no series."""


class NotAvailable(RuntimeError):
    """The request needs a part of the model that is not loaded (popular-list fallback)."""


@dataclass(frozen=True)
class Item:
    """One recommended series."""

    series_id: str
    score: float
    source: str
    language: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Recommendation:
    """A list of items and how it was made."""

    items: list[Item]
    language: str
    personalized: bool


class ServingModel:
    """A bundle prepared for serving; immutable once built, shared by all requests.

    Parameters
    ----------
    manifest : dict
        The bundle's manifest.
    series, popular : polars.DataFrame
        The catalogue of series versions and the ranked lists per language.
    users : polars.DataFrame or None
        The users table, or ``None`` for the popular-list-only fallback.
    arrays : dict or None
        The bundle arrays, or ``None`` for the popular-list-only fallback.
    degraded_reason : str or None
        Set for the popular-list-only fallback: why no full model is being served.
    """

    def __init__(
        self,
        manifest: dict[str, Any],
        series: pl.DataFrame,
        popular: pl.DataFrame,
        users: pl.DataFrame | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        degraded_reason: str | None = None,
    ) -> None:
        self.manifest = manifest
        self.version = str(manifest["model_version"])
        self.model = str(manifest["model"])
        self.kind = str(manifest["kind"])
        self.degraded_reason = degraded_reason
        self.full = arrays is not None and users is not None
        #: what the API reports as "fallback": the pipeline's own fallback or ours
        self.fallback = bool(manifest.get("fallback")) or not self.full
        self.loaded_at = dt.datetime.now(dt.UTC)

        # --- catalogue
        self.series_ids = series["series_id"].to_numpy().astype(object)
        self.series_story = series["story_index"].to_numpy().astype(np.int32)
        self.languages: list[str] = sorted(series["language"].unique().to_list())
        lang_code = {lang: i for i, lang in enumerate(self.languages)}
        series_lang = np.array([lang_code[x] for x in series["language"].to_list()], np.int16)
        self.series_lang = series_lang
        self.series_row = {sid: i for i, sid in enumerate(self.series_ids.tolist())}
        if arrays is not None:
            self.n_stories = int(arrays["similarity"].shape[0])
        else:
            self.n_stories = int(self.series_story.max()) + 1 if series.height else 0
        # story -> series row in each language (-1: no version), and the stories to blank out
        self.lookup: list[np.ndarray] = []
        self.missing: list[np.ndarray] = []
        for li in range(len(self.languages)):
            table = np.full(self.n_stories, -1, dtype=np.int32)
            rows = np.flatnonzero(series_lang == li).astype(np.int32)
            table[self.series_story[rows]] = rows
            self.lookup.append(table)
            self.missing.append(np.flatnonzero(table < 0))
        #: [language, story] -> series row (-1: none), and whether there is a version
        self.lookup_matrix = np.stack(self.lookup) if self.lookup else np.empty((0, 0), np.int32)
        self.available = self.lookup_matrix >= 0
        self.language_names = np.asarray(self.languages, dtype=object)

        # --- what an item shows beside its id (docs/api.md): ready dicts, one per series row
        def column(name: str) -> list[Any]:
            return series[name].to_list() if name in series.columns else [None] * series.height

        self.series_info: list[dict[str, Any]] = [
            {"series_id": i, "title": t, "n_episodes": n, "free_episodes": f,
             "production_type": p}
            for i, t, n, f, p in zip(column("series_id"), column("title"), column("n_episodes"),
                                     column("free_episodes"), column("production_type"),
                                     strict=True)
        ]  # fmt: skip
        # newest first per language (release_date, then series id); none without the column
        self.new_releases: dict[int, np.ndarray] = {}
        if "release_date" in series.columns:
            dated = (
                series.with_row_index("row")
                .filter(pl.col("release_date").is_not_null())
                .sort(["release_date", "series_id"], descending=[True, False])
            )
            for (lang,), part in dated.group_by("language", maintain_order=True):
                li = lang_code[str(lang)]
                self.new_releases[li] = self.series_story[part["row"].to_numpy()]

        # --- ranked lists per language: (story indices in rank order, their scores)
        self.lists: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        ordered = popular.sort(["language", "list", "rank"])
        for (lang, name), part in ordered.group_by(["language", "list"], maintain_order=True):
            li = lang_code.get(str(lang))
            if li is None:
                continue
            rows = np.array([self.series_row[s] for s in part["series_id"].to_list()], np.int64)
            stories = self.series_story[rows]
            scores = part["score"].to_numpy().astype(np.float64)
            self.lists[(li, str(name))] = (stories, scores)

        # --- users and model arrays
        self.user_index: IdIndex | None = None
        self.kernel: scoring.Kernel | None = None  # None: the popular-list-only fallback
        self.source: str | None = None
        self.default_language = self.languages[0] if self.languages else ""
        if users is not None and arrays is not None:
            idx = users["user_index"].to_numpy()
            self.user_index = IdIndex(users["user_id"], idx)
            main_codes = (
                users["main_language"]
                .replace_strict(lang_code, return_dtype=pl.Int16)
                .to_numpy()
                .astype(np.int16)
            )
            main = np.empty(users.height, dtype=np.int16)
            main[idx] = main_codes
            self.user_main = main
            if users.height:
                counts = np.bincount(main_codes, minlength=len(self.languages))
                self.default_language = self.languages[int(counts.argmax())]
            # the languages each user watched, most watched first (CSR by user row): where a
            # short list is filled from; without the column, the main language alone
            if "watched_languages" in users.columns:
                lengths = users["watched_languages"].list.len().to_numpy().astype(np.int64)
                codes = (
                    users["watched_languages"].explode()
                    .replace_strict(lang_code, return_dtype=pl.Int16).to_numpy()
                )  # fmt: skip
                # table order -> user_index order, in whole arrays (no Python loop per user:
                # this runs on the watcher thread while requests are served)
                order = np.argsort(idx, kind="stable")
                starts = np.zeros(users.height + 1, dtype=np.int64)
                np.cumsum(lengths, out=starts[1:])
                self.watched_indptr = np.zeros(users.height + 1, dtype=np.int64)
                np.cumsum(lengths[order], out=self.watched_indptr[1:])
                pos = np.repeat(starts[order] - self.watched_indptr[:-1], lengths[order])
                pos += np.arange(int(self.watched_indptr[-1]), dtype=np.int64)
                self.watched_codes = np.asarray(codes, dtype=np.int16)[pos]
            else:
                self.watched_indptr = np.arange(users.height + 1, dtype=np.int64)
                self.watched_codes = main.copy()
            self.indptr = arrays["history_indptr"]
            self.indices = arrays["history_indices"]
            self.history = scoring.History(self.indptr, self.indices, arrays["history_weights"])
            self.similarity = arrays["similarity"]
            # how to score: the trained model's own export, as the pipeline evaluated it
            spec = scoring.Scorer.from_json(manifest["scorer"])
            self.kernel = scoring.bind(spec, {name: arrays[name] for name in spec.array_specs()})
            #: the ``source`` of the model's items (``models.scoring.Scorer.source``)
            self.source = spec.source
            #: a ``precomputed`` model's lists (user row -> best stories, -1 padded) and their
            #: scores: the fast path of :meth:`recommend`; ``None`` for other scorers
            self.top_items: np.ndarray | None = None
            if spec.kind == "precomputed":
                self.top_items = arrays["top_items"]
                self.top_values = scoring.precomputed_values(self.top_items.shape[1])
            # fresh viewers (not in the bundle): their started stories folded in through the
            # item-item scorer over the bundle's similarity (docs/api.md, "Fresh viewers")
            fold = scoring.Scorer("item_item", "item_knn", {"history": "binary"})
            self.fold_in_kernel = scoring.bind(fold, {"item_item": self.similarity})
        self.n_users = len(self.user_index) if self.user_index is not None else 0
        #: the catalogue's most watched language: the last fill of a short list
        most = manifest.get("most_watched_language")
        self.catalogue_language = lang_code.get(most, lang_code.get(self.default_language, 0))

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> ServingModel:
        """Prepare a fully loaded bundle."""
        return cls(bundle.manifest, bundle.series, bundle.popular, bundle.users, bundle.arrays)

    # -----------------------------------------------------------------------------------------
    # lookups

    def normalize_language(self, tag: str) -> str | None:
        """The catalogue language of a locale tag (``pt-BR`` → ``pt``, ``EN`` → ``en``), or
        ``None`` when the catalogue has no series in it."""
        return lists.normalize_language(tag, self.languages)

    def language_code(self, language: str) -> int:
        """Index of ``language`` among the catalogue's languages (``UnknownLanguage`` if none)."""
        try:
            return self.languages.index(language)
        except ValueError:
            raise UnknownLanguage(language) from None

    def series_story_of(self, series_id: str) -> int:
        """Story index of a series version (``UnknownSeries`` if not in the catalogue)."""
        row = self.series_row.get(series_id)
        if row is None:
            raise UnknownSeries(series_id)
        return int(self.series_story[row])

    def user_row(self, user_id: str) -> int | None:
        """Row of ``user_id`` in the model arrays, or ``None`` for a user the model never saw."""
        return self.user_index.get(user_id) if self.user_index is not None else None

    def stories_of(self, series_ids: Any) -> np.ndarray:
        """Story indices of the known ``series_ids`` (unknown ones are left out)."""
        rows = [self.series_row.get(s) for s in series_ids]
        return self.series_story[[r for r in rows if r is not None]].astype(np.int64)

    def story_series(self, story: int, li: int) -> str | None:
        """The version of ``story`` in language ``li``, or ``None``."""
        row = int(self.lookup[li][story])
        return str(self.series_ids[row]) if row >= 0 else None

    def language_of(self, series_id: str) -> str | None:
        row = self.series_row.get(series_id)
        return self.languages[int(self.series_lang[row])] if row is not None else None

    def top_history_series(self, row: int | None, li: int) -> str | None:
        """The version in language ``li`` (else any) of the story user ``row`` watched most
        (highest interaction weight; ties: the first), or ``None``."""
        if row is None or not self.full:
            return None
        start, end = int(self.indptr[row]), int(self.indptr[row + 1])
        if start == end:
            return None
        weights = self.history.weights[start:end]
        story = int(self.indices[start + int(np.argmax(weights))])
        for lang in [li, *range(len(self.languages))]:
            found = self.story_series(story, lang)
            if found is not None:
                return found
        return None

    def _mask(self, stories: np.ndarray) -> np.ndarray:
        """A boolean array over the stories, true at ``stories`` (cheaper than ``np.isin``)."""
        mask = np.zeros(self.n_stories, dtype=bool)
        mask[stories] = True
        return mask

    def fold_in(self, stories: np.ndarray) -> np.ndarray:
        """Scores (float32) of every story for a viewer the model never saw, from the stories
        they started: the item-item kernel (binary history) over the bundle's similarity."""
        stories = np.unique(np.asarray(stories, dtype=np.int32))
        history = scoring.History(
            np.array([0, len(stories)], dtype=np.int32),
            stories,
            np.ones(len(stories), dtype=scoring.DTYPE),
        )
        return self.fold_in_kernel([0], history)[0]

    # -----------------------------------------------------------------------------------------
    # scoring

    def user_scores(self, row: int) -> np.ndarray:
        """The model's scores (float32, a fresh array) of every story for user ``row``: the
        scoring kernel on a batch of one, the same arithmetic as the pipeline's batches."""
        return self.kernel([row], self.history)[0]

    def _top(self, scores: np.ndarray, k: int) -> np.ndarray:
        """Story indices of the ``k`` best finite scores, best first, ties by story index
        (``models.scoring.top_k``, the order of the offline lists)."""
        top = scoring.top_k(scores[None, :], k)[0]
        if top.size and not math.isfinite(scores[top[-1]]):  # best first: -inf ones come last
            top = top[np.isfinite(scores[top])]
        return top

    def _items(
        self,
        stories: np.ndarray,
        scores: np.ndarray,
        li: int,
        sources: Any,
        tiers: tuple[list[int], np.ndarray, set[int]] | None = None,
    ) -> list[Item]:
        """Items of ``stories`` in language ``li`` — or, with ``tiers`` (the language order,
        each story's index into it, the user's watched languages), in the language each was
        filled from, with the reason."""
        # Python's round on ~10 floats: np.round on a small array costs ~30 µs of overhead
        vals = [round(v, 6) for v in scores.tolist()]
        if isinstance(sources, str):
            sources = [sources] * len(vals)
        if tiers is None or not tiers[1].any():
            ids = self.series_ids[self.lookup[li][stories]].tolist()
            lang = self.languages[li] if self.languages else ""
            return [Item(s, v, src, lang, lists.reason_for(src))
                    for s, v, src in zip(ids, vals, sources, strict=True)]  # fmt: skip
        order, tier, watched = tiers
        langs = np.asarray(order, dtype=np.int64)[tier]
        ids = self.series_ids[self.lookup_matrix[langs, stories]].tolist()
        asked = self.languages[li]
        out = []
        for s, v, src, t, lg in zip(ids, vals, sources, tier.tolist(), langs.tolist(), strict=True):
            name = self.languages[lg]
            reason = (lists.reason_for(src) if t == 0
                      else lists.fill_reason(name, asked, lg in watched))  # fmt: skip
            out.append(Item(s, v, src, name, reason))
        return out

    def watched(self, row: int | None) -> list[int]:
        """The languages user ``row`` watched, most watched first (none for an unknown user)."""
        if row is None:
            return []
        return self.watched_codes[self.watched_indptr[row] : self.watched_indptr[row + 1]].tolist()

    def _ranked(
        self, scores: np.ndarray, k: int, li: int, row: int | None, sources: Any
    ) -> list[Item]:
        """The best ``k`` of ``scores`` (``-inf``: never) in language ``li``, a short list filled
        from the other languages (``models.lists.rank_by_language``); ``sources`` is one
        source or a function of the chosen stories giving theirs."""
        in_language = scores.copy()
        np.put(in_language, self.missing[li], -np.inf)
        top = self._top(in_language, k)
        tiers = None
        if len(top) < k:
            watched = self.watched(row)
            order = lists.language_order(li, watched, self.catalogue_language)
            if len(order) > 1:
                top, tier = lists.rank_by_language(scores, k, self.available[order])
                tiers = (order, tier, set(watched))
        src = sources(top) if callable(sources) else sources
        return self._items(top, scores[top], li, src, tiers)

    def _from_precomputed(
        self, row: int, k: int, li: int, blocked: np.ndarray
    ) -> list[Item] | None:
        """The fast path of a ``precomputed`` model: user ``row``'s stored list without the
        stories they started, the ``blocked`` ones and those with no version in language
        ``li`` — the same items and scores the full kernel gives, since every listed story
        outscores every other (``models.scoring.precomputed_values``). ``None`` when fewer
        than ``k`` remain: then the full path scores the catalogue and fills the list."""
        listed = self.top_items[row]  # type: ignore[index]
        keep = listed >= 0
        keep &= self.available[li][np.maximum(listed, 0)]
        started = self.indices[self.indptr[row] : self.indptr[row + 1]]
        if started.size or blocked.size:
            drop = self._mask(started)  # a mask over the stories: np.isin costs ~100 µs here
            drop[blocked] = True
            keep &= ~drop[np.maximum(listed, 0)]
        chosen = np.flatnonzero(keep)[:k]
        if len(chosen) < k:
            return None
        return self._items(listed[chosen], self.top_values[chosen], li, self.source)

    def ranked_list(
        self,
        li: int,
        k: int,
        order: tuple[str, ...] = ("trending", "popular"),
        blocked: np.ndarray | None = None,
    ) -> list[Item]:
        """The first non-empty list of ``order`` in language ``li`` (source: the list's name),
        without the ``blocked`` stories."""
        for name in order:
            ranked = self.lists.get((li, name))
            if ranked is None or not len(ranked[0]):
                continue
            stories, scores = ranked
            if blocked is not None and len(blocked):
                keep = ~self._mask(blocked)[stories]
                stories, scores = stories[keep], scores[keep]
                if not len(stories):
                    continue
            return self._items(stories[:k], scores[:k], li, name)
        return []

    def trending(self, li: int, k: int, blocked: np.ndarray | None = None) -> list[Item]:
        """Non-personalised list: trending (popular if empty); popular first when degraded.
        Fewer than ``k`` in language ``li``: filled from the catalogue's most watched
        language's list, other stories only, each item saying so. ``blocked`` stories are
        left out (started, excluded)."""
        order = ("trending", "popular") if self.full else ("popular", "trending")
        items = self.ranked_list(li, k, order, blocked)
        fill = self.catalogue_language
        if len(items) >= k or fill == li or not self.languages:
            return items
        seen = {self.series_story[self.series_row[it.series_id]] for it in items}
        asked = self.languages[li]
        for it in self.ranked_list(fill, k + len(items), order, blocked):
            if len(items) >= k:
                break
            story = self.series_story[self.series_row[it.series_id]]
            if story not in seen:
                seen.add(story)
                items.append(Item(it.series_id, it.score, it.source, it.language,
                                  lists.fill_reason(it.language, asked, False)))  # fmt: skip
        return items

    def recommend(
        self,
        user_id: str,
        k: int,
        language: str | None = None,
        after_series_id: str | None = None,
        exclude: np.ndarray | None = None,
        recent: list[str] | None = None,
    ) -> Recommendation:
        """Next series for ``user_id`` (see docs/api.md for the rules).

        ``exclude``: story indices to leave out (the ``exclude`` parameter, a page's earlier
        rows); ``recent``: the series the user watched lately (the published activity, most
        recent first) — never listed, and a fresh viewer's list is folded in from them.

        Raises
        ------
        UnknownLanguage, UnknownSeries
            For a ``language`` with no series or an unknown ``after_series_id``.
        """
        row = self.user_row(user_id) if self.full else None
        recent_stories = self.stories_of(recent) if recent else np.empty(0, np.int64)
        blocked = recent_stories if exclude is None else np.concatenate([exclude, recent_stories])
        if language is None:
            if row is not None:
                language = self.languages[self.user_main[row]]
            elif recent_stories.size:  # a fresh viewer: the language they watch lately
                language = self.language_of(recent[0]) or self.default_language  # type: ignore[index]
            else:
                language = self.default_language
        li = self.language_code(language)
        after = self.series_story_of(after_series_id) if after_series_id is not None else None
        if not self.full:
            # popular-list fallback: no similarity, no histories; after_series_id is checked
            # above (a typo still gets its 422) but cannot steer
            return Recommendation(self.trending(li, k, blocked), language, False)
        fresh = row is None and recent_stories.size > 0
        if row is None and after is None and not fresh:
            return Recommendation(self.trending(li, k, blocked), language, False)

        source = self.source
        if row is not None and after is None and self.top_items is not None:
            items = self._from_precomputed(row, k, li, blocked)
            if items is not None:
                return Recommendation(items, language, True)
        if row is not None:
            start, end = self.indptr[row], self.indptr[row + 1]
            base = self.user_scores(row)
            np.put(base, self.indices[start:end], -np.inf)  # every story the user started
        elif fresh:
            base = self.fold_in(recent_stories)
            source = "item_similarity"
        else:
            base = None
        if base is not None and blocked.size:
            np.put(base, blocked, -np.inf)
        if after is None:
            items = self._ranked(base, k, li, row, source)
            if fresh:
                items = _fresh_reasons(items)
            return Recommendation(items, language, True)

        # after_series_id: blend the user's scores (min-max scaled over the candidates in the
        # language) with the similarity row of the story just finished
        sim = self.similarity[after].astype(np.float64)
        sim_max = sim.max()
        sim = sim / sim_max if sim_max > 0 else sim
        if base is None:
            scores = sim
            np.put(scores, [after], -np.inf)
            if blocked.size:
                np.put(scores, blocked, -np.inf)
            return Recommendation(
                self._ranked(scores, k, li, None, "item_similarity"), language, False
            )
        base = base.astype(np.float64)
        np.put(base, [after], -np.inf)
        in_language = base.copy()
        np.put(in_language, self.missing[li], -np.inf)
        finite = np.isfinite(in_language)
        if not finite.any():
            finite = np.isfinite(base)
        if finite.any():
            lo, hi = base[finite].min(), base[finite].max()
            user_part = (
                (base - lo) / (hi - lo) if hi > lo else np.where(np.isfinite(base), 1.0, -np.inf)
            )
        else:
            user_part = base
        user_part = (1 - AFTER_WEIGHT) * user_part
        sim_part = AFTER_WEIGHT * sim
        scores = user_part + sim_part

        def sources(top: np.ndarray) -> list[str]:
            return np.where(user_part[top] >= sim_part[top], source, "item_similarity").tolist()

        return Recommendation(self._ranked(scores, k, li, row, sources), language, True)

    def similar(
        self, series_id: str, k: int, blocked: np.ndarray | None = None, li: int | None = None
    ) -> list[Item]:
        """Series versions like ``series_id``, in its language (or ``li``), without the
        ``blocked`` stories (``UnknownSeries`` if unknown)."""
        story = self.series_story_of(series_id)
        if not self.full:
            raise NotAvailable("no model loaded: similar series are unavailable")
        if li is None:
            li = int(self.series_lang[self.series_row[series_id]])
        scores = self.similarity[story].astype(np.float64)
        np.put(scores, [story], -np.inf)
        np.put(scores, self.missing[li], -np.inf)
        if blocked is not None and len(blocked):
            np.put(scores, blocked, -np.inf)
        top = self._top(scores, k)
        items = self._items(top, scores[top], li, "item_similarity")
        reason = f"viewers of {series_id} watch it"
        return [Item(it.series_id, it.score, it.source, it.language, reason) for it in items]

    def new_release_items(self, li: int, k: int, blocked: np.ndarray | None = None) -> list[Item]:
        """The newest series of language ``li`` (release date, newest first), without the
        ``blocked`` stories; ``score`` is the rank order, source ``new_release``."""
        stories = self.new_releases.get(li)
        if stories is None:
            return []
        if blocked is not None and len(blocked):
            stories = stories[~self._mask(blocked)[stories]]
        stories = stories[:k]
        scores = -np.arange(len(stories), dtype=np.float64)
        return self._items(stories, scores, li, "new_release")

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/model`` reports."""
        m = self.manifest
        return {
            "model_version": self.version,
            "model": self.model,
            "kind": self.kind,
            "trained_at": m.get("trained_at"),
            "data_start": m.get("data_start"),
            "data_end": m.get("data_end"),
            "metrics": m.get("metrics", {}),
            "params": m.get("params", {}),
            "evaluation": m.get("evaluation", {}),
            "fallback": self.fallback,
            "fallback_reason": self.degraded_reason or m.get("fallback_reason"),
            "languages": self.languages,
            "n_users": self.n_users,
            "n_series": len(self.series_ids),
            "n_stories": self.n_stories,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
        }


def _fresh_reasons(items: list[Item]) -> list[Item]:
    """A fresh viewer's items in the asked language say why: like what they started."""
    said = lists.reason_for("item_similarity")
    return [
        Item(it.series_id, it.score, it.source, it.language, "like the series you started")
        if it.reason == said else it
        for it in items
    ]  # fmt: skip
