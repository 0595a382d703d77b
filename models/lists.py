"""A user's list across languages: the asked language first, then the fill (CONTRACT §4).

The model ranks *stories*; a list shows their versions in one language. When fewer than k
stories the user has not started have a version in the asked language, the list is filled
from the user's other watched languages (most watched first), then from the catalogue's most
watched language — each such item says so in its ``reason``. A story appears once, in the
first language of that order that has a version of it, and never when the user started any
version of it (the caller has set those scores to ``-inf``).

One function for the pipeline's batch lists (``models.train.batch_recommendations``) and the
API (``serving.model.ServingModel``), so both fill the same way, in the same order
(``models.scoring.top_k``: score, then story index).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.scoring import top_k

#: ``reason`` of an item in the asked language, by where it came from
REASONS = {
    "model": "picked for you",
    "trending": "trending now",
    "popular": "popular",
    "item_similarity": "like the series you just finished",
    "new_release": "new release",
    "continue_watching": "continue watching",
}


def reason_for(source: str) -> str:
    """The ``reason`` of an item in the asked language that came from ``source``."""
    return REASONS.get(source, REASONS["model"])


def language_order(asked: int, watched: Sequence[int], catalogue: int) -> list[int]:
    """The languages a list is taken from, in order: the asked one, the user's other watched
    languages (most watched first), the catalogue's most watched one; each once."""
    return list(dict.fromkeys([asked, *watched, catalogue]))


def rank_by_language(
    scores: np.ndarray, k: int, available: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best stories of ``scores`` (1-D; ``-inf`` = never), taken from the languages
    of ``available`` in order (``available[t][story]``: the story has a version in language
    t): first every story available in language 0, then, while fewer than ``k``, in 1, ...

    Returns ``(stories, tier)``: story indices best first, and for each the index into
    ``available`` of the language it is shown in.
    """
    picked: list[np.ndarray] = []
    tiers: list[np.ndarray] = []
    remaining = k
    current = scores
    for t, mask in enumerate(available):
        candidates = np.where(mask, current, -np.inf)
        top = top_k(candidates[None, :], remaining)[0]
        if top.size and not np.isfinite(candidates[top[-1]]):  # best first: -inf ones last
            top = top[np.isfinite(candidates[top])]
        picked.append(top)
        tiers.append(np.full(len(top), t, dtype=np.int64))
        remaining -= len(top)
        if remaining <= 0 or t == len(available) - 1:
            break
        if t == 0:
            current = scores.copy()  # the caller's array stays as it was
        current[top] = -np.inf  # a story is shown once, in the first language that has it
    if len(picked) == 1:
        return picked[0], tiers[0]
    return np.concatenate(picked), np.concatenate(tiers)


def normalize_language(tag: str, known: Sequence[str]) -> str | None:
    """The catalogue language a locale tag asks for, or ``None``: the tag itself if the
    catalogue has it, else its lower-case form (``EN`` → ``en``, ``_`` read as ``-``), else
    its primary subtag (``pt-BR`` → ``pt``, ``zh_Hant_TW`` → ``zh``)."""
    if tag in known:
        return tag
    lowered = tag.strip().replace("_", "-").lower()
    for candidate in (lowered, lowered.split("-", 1)[0]):
        for language in known:
            if language.lower() == candidate:
                return language
    return None


def fill_reason(language: str, asked: str, watched: bool) -> str:
    """The ``reason`` of an item filled from another language than the asked one."""
    why = "another language you watch" if watched else "the most watched language"
    return f"in {language}, {why}: few series left in {asked}"
