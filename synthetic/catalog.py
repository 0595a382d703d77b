"""Synthetic catalog: stories, their language versions and their episodes.

A *story* is one drama; a *series version* is one audio language of it (the original or a dub,
linked through ``original_series_id``). Everything is drawn with numpy from one Generator, so
the same seed gives the same catalog.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

GENRES = np.array(
    [
        "romance",
        "revenge",
        "billionaire",
        "werewolf",
        "mafia",
        "family",
        "fantasy",
        "thriller",
        "comedy",
        "historical",
        "campus",
        "medical",
    ]
)
# how often a genre is a story's primary genre: romance and revenge dominate the category
GENRE_WEIGHTS = np.array([0.22, 0.16, 0.12, 0.08, 0.07, 0.07, 0.06, 0.06, 0.05, 0.04, 0.04, 0.03])

LANGUAGES = np.array(["en", "es", "pt", "ko", "ja", "fr"])
ORIGINAL_LANGUAGE_P = np.array([0.70, 0.06, 0.04, 0.12, 0.06, 0.02])
DUB_TARGET_WEIGHT = np.array([1.0, 1.0, 0.8, 0.25, 0.2, 0.35])

PRODUCTION_TYPES = np.array(["live_action", "ai", "hybrid"])
LATENT_DIMS = 4

_ADJ = np.array(
    [
        "Secret", "Forbidden", "Runaway", "Hidden", "Contract", "Midnight", "Stolen", "Fated",
        "Broken", "Silent", "Royal", "Wicked", "Lost", "Second", "Crimson", "Golden",
    ]
)  # fmt: skip
_NOUN = np.array(
    [
        "Bride", "Heir", "Alpha", "Vow", "Crown", "Queen", "Marriage", "Revenge", "Legacy",
        "Promise", "Twins", "Boss", "Doctor", "Luna", "Empress", "Deal",
    ]
)  # fmt: skip
_OWNER = np.array(
    [
        "The Billionaire's", "My CEO's", "The Alpha's", "The Mafia King's", "His", "Her",
        "The Prince's", "The Duke's", "",
    ]
)  # fmt: skip


@dataclass(frozen=True)
class LaunchTruth:
    """Launch mode: what was planted per series version (see synthetic/launches.py)."""

    appeal: np.ndarray  # the story's appeal (log-normal), shared by its dubs
    promotion: np.ndarray  # factor on the "new" shelf, independent of appeal
    virality: np.ndarray  # factor on word of mouth, independent of appeal
    paywall_shift: np.ndarray  # logit shift of paywall conversion
    daily: np.ndarray  # versions × days: log attraction shock of each day (chart position)


@dataclass(frozen=True)
class Catalog:
    """The generated catalog plus the hidden truths the viewing simulation needs."""

    series: pl.DataFrame  # CONTRACT §1 columns, one row per version
    episodes: pl.DataFrame  # CONTRACT §1 columns
    story_of_version: np.ndarray  # version index -> story index
    version_language: np.ndarray  # version index -> language index
    is_original: np.ndarray  # version index -> bool
    release_day: np.ndarray  # version index -> day offset from the data start (may be < 0)
    story_embedding: np.ndarray  # story × (genres + latent dims)
    story_popularity: np.ndarray  # story -> unnormalised popularity (power law)
    story_quality: np.ndarray  # story -> hook/continuation shift in logits
    version_quality: np.ndarray  # version -> story quality plus production/dub effects
    n_episodes: np.ndarray  # version -> int
    free_episodes: np.ndarray  # version -> int
    cliffhanger: np.ndarray  # version × 91 bool: episode e ends on a cliffhanger
    episode_offset: np.ndarray  # version -> row index of its episode 1 in ``episodes``
    durations: np.ndarray  # flat float array aligned with ``episodes`` rows
    # launch mode only (synthetic/launches.py): the planted per-version truths; None otherwise
    launch: LaunchTruth | None = None


def draw_genres(rng: np.random.Generator, n_stories: int) -> tuple[np.ndarray, np.ndarray]:
    """Genres (a primary plus 0-2 secondaries, one-hot) and the story embedding."""
    n_genres = len(GENRES)
    primary = rng.choice(n_genres, size=n_stories, p=GENRE_WEIGHTS)
    genre_hot = np.zeros((n_stories, n_genres), dtype=bool)
    genre_hot[np.arange(n_stories), primary] = True
    n_secondary = rng.choice(3, size=n_stories, p=[0.35, 0.45, 0.20])
    for k in range(2):
        extra = rng.choice(n_genres, size=n_stories, p=GENRE_WEIGHTS)
        genre_hot[np.arange(n_stories), extra] |= n_secondary > k

    latent = rng.normal(0.0, 0.8, size=(n_stories, LATENT_DIMS))
    story_embedding = np.hstack(
        [genre_hot / np.sqrt(genre_hot.sum(axis=1, keepdims=True)), latent]
    ).astype(np.float64)
    return genre_hot, story_embedding


def draw_story_shape(
    rng: np.random.Generator, n_stories: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each story's original language, episode count, free episodes and mean episode length."""
    story_language = rng.choice(len(LANGUAGES), size=n_stories, p=ORIGINAL_LANGUAGE_P)
    n_episodes_story = np.clip(np.rint(rng.normal(62, 12, size=n_stories)), 40, 90).astype(int)
    free_story = rng.integers(5, 13, size=n_stories)
    mean_duration = rng.uniform(60, 120, size=n_stories)
    return story_language, n_episodes_story, free_story, mean_duration


def dub_pairs(story_language: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (story, language) pair a dub could be: each language but the story's own."""
    n_stories = len(story_language)
    pair_story = np.repeat(np.arange(n_stories), len(LANGUAGES))
    pair_lang = np.tile(np.arange(len(LANGUAGES)), n_stories)
    allowed = pair_lang != story_language[pair_story]
    return pair_story[allowed], pair_lang[allowed]


def build_catalog(rng: np.random.Generator, n_versions: int, start: dt.date, days: int) -> Catalog:
    """Draw a catalog of exactly ``n_versions`` series versions.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's single source of randomness.
    n_versions : int
        Rows of the ``series`` table (originals plus dubbed versions).
    start : datetime.date
        First day of the simulated period; release dates are spread around it.
    days : int
        Length of the simulated period.
    """
    n_stories = max(1, int(np.ceil(n_versions / 1.6)))
    n_stories = min(n_stories, n_versions)
    n_dubs = n_versions - n_stories
    genre_hot, story_embedding = draw_genres(rng, n_stories)

    # releases: a back catalog from the last year, and new stories arriving through the period
    in_period = rng.random(n_stories) < 0.45
    release_story = np.where(
        in_period,
        rng.integers(0, max(days, 1), size=n_stories),
        -rng.integers(1, 366, size=n_stories),
    )
    # AI production rose fast: newer stories are more often AI-made
    recency = np.clip((release_story + 365) / (365 + days), 0, 1)
    p_ai = 0.15 + 0.30 * recency
    p_hybrid = np.full(n_stories, 0.15)
    u = rng.random(n_stories)
    production_story = np.where(u < p_ai, 1, np.where(u < p_ai + p_hybrid, 2, 0))

    quality = rng.normal(0.0, 0.45, size=n_stories)
    quality -= np.where(production_story == 1, 0.12, 0.0)  # AI: a slightly weaker hook on average
    # power-law popularity, loosely tied to quality (good shows get promoted)
    order = np.argsort(-(quality + rng.normal(0, 0.6, size=n_stories)), kind="stable")
    rank = np.empty(n_stories, dtype=np.int64)
    rank[order] = np.arange(n_stories)
    popularity = 1.0 / (rank + 3.0) ** 1.0

    story_language, n_episodes_story, free_story, mean_duration = draw_story_shape(rng, n_stories)

    # dubs: popular stories get dubbed first, into languages other than the original
    pair_story, pair_lang = dub_pairs(story_language)
    weight = popularity[pair_story] * DUB_TARGET_WEIGHT[pair_lang]
    n_dubs = min(n_dubs, len(pair_story))
    picked = rng.choice(len(pair_story), size=n_dubs, replace=False, p=weight / weight.sum())
    picked.sort()
    dub_story, dub_lang = pair_story[picked], pair_lang[picked]

    story_of_version = np.concatenate([np.arange(n_stories), dub_story])
    version_language = np.concatenate([story_language, dub_lang])
    is_original = np.concatenate([np.ones(n_stories, bool), np.zeros(len(dub_story), bool)])
    n_v = len(story_of_version)
    dub_delay = rng.integers(14, 121, size=n_v)
    release_day = np.where(
        is_original,
        release_story[story_of_version],
        np.minimum(release_story[story_of_version] + dub_delay, days - 1),
    )
    version_quality = quality[story_of_version] - np.where(is_original, 0.0, 0.10)
    return assemble_catalog(
        rng,
        start,
        genre_hot=genre_hot,
        story_embedding=story_embedding,
        popularity=popularity,
        quality=quality,
        production_story=production_story,
        n_episodes_story=n_episodes_story,
        free_story=free_story,
        mean_duration=mean_duration,
        story_of_version=story_of_version,
        version_language=version_language,
        is_original=is_original,
        release_day=release_day,
        version_quality=version_quality,
    )


def assemble_catalog(
    rng: np.random.Generator,
    start: dt.date,
    *,
    genre_hot: np.ndarray,
    story_embedding: np.ndarray,
    popularity: np.ndarray,
    quality: np.ndarray,
    production_story: np.ndarray,
    n_episodes_story: np.ndarray,
    free_story: np.ndarray,
    mean_duration: np.ndarray,
    story_of_version: np.ndarray,
    version_language: np.ndarray,
    is_original: np.ndarray,
    release_day: np.ndarray,
    version_quality: np.ndarray,
    launch: LaunchTruth | None = None,
) -> Catalog:
    """Episodes, cuts, cliffhangers, costs and titles for given stories and versions.

    Story arrays are indexed by story, version arrays by version (originals and dubs).
    """
    n_stories = len(popularity)
    n_v = len(story_of_version)
    n_eps = n_episodes_story[story_of_version]
    free = free_story[story_of_version]
    episode_offset = np.concatenate([[0], np.cumsum(n_eps)[:-1]])
    ep_version = np.repeat(np.arange(n_v), n_eps)
    ep_number = np.arange(n_eps.sum()) - np.repeat(episode_offset, n_eps) + 1
    # the same story has the same cut in every language: draw durations per story episode
    story_ep_offset = np.concatenate([[0], np.cumsum(n_episodes_story)[:-1]])
    story_durations = np.clip(
        rng.normal(np.repeat(mean_duration, n_episodes_story), 15.0, size=n_episodes_story.sum()),
        45,
        180,
    ).round(1)
    durations = story_durations[story_ep_offset[story_of_version][ep_version] + ep_number - 1]

    # cliffhanger episodes: every 6-12 episodes a hard hook that lifts continuation
    cliff_story = np.zeros((n_stories, 91), dtype=bool)
    period = rng.integers(6, 13, size=n_stories)
    phase = rng.integers(0, 6, size=n_stories)
    e = np.arange(91)
    cliff_story[:] = ((e[None, :] - phase[:, None]) % period[:, None] == 0) & (e[None, :] > 1)
    cliffhanger = cliff_story[story_of_version]

    runtime_min = np.add.reduceat(durations, episode_offset) / 60.0
    production = production_story[story_of_version]
    original_cost = np.select(
        [production == 0, production == 1, production == 2],
        [
            3000.0 * runtime_min * rng.lognormal(0, 0.2, size=n_v),
            runtime_min / 60.0 * rng.uniform(6000, 19000, size=n_v),
            runtime_min * rng.uniform(600, 1500, size=n_v),
        ],
    )
    dub_cost = runtime_min * rng.uniform(100, 400, size=n_v)
    cost = np.where(is_original, original_cost, dub_cost).round(2)
    cost_known = rng.random(n_v) >= 0.04

    version_ids = np.array([f"S{i:05d}" for i in range(n_v)])
    titles = np.char.add(
        np.char.add(_OWNER[rng.integers(0, len(_OWNER), n_stories)], " "),
        np.char.add(
            np.char.add(_ADJ[rng.integers(0, len(_ADJ), n_stories)], " "),
            _NOUN[rng.integers(0, len(_NOUN), n_stories)],
        ),
    )
    titles = np.char.strip(titles)
    version_title = titles[story_of_version]
    version_title = np.where(
        is_original,
        version_title,
        np.char.add(
            np.char.add(version_title, " ["), np.char.add(LANGUAGES[version_language], "]")
        ),
    )
    genre_lists = ["|".join(GENRES[row]) for row in genre_hot]  # per story, small loop
    release_dates = [start + dt.timedelta(days=int(d)) for d in release_day]

    series = pl.DataFrame(
        {
            "series_id": version_ids,
            "title": version_title,
            "genres": [genre_lists[s] for s in story_of_version],
            "language": LANGUAGES[version_language],
            "original_series_id": pl.Series(version_ids[story_of_version]).zip_with(
                pl.Series(~is_original), pl.Series([None], dtype=pl.Utf8)
            ),
            "n_episodes": n_eps.astype(np.int32),
            "free_episodes": free.astype(np.int32),
            "release_date": release_dates,
            "production_type": PRODUCTION_TYPES[production],
            "production_cost_usd": np.where(cost_known, cost, np.nan),
        }
    ).with_columns(pl.col("production_cost_usd").fill_nan(None))
    episodes = pl.DataFrame(
        {
            "episode_id": np.char.add(
                np.char.add(version_ids[ep_version], "-E"), np.char.zfill(ep_number.astype(str), 3)
            ),
            "series_id": version_ids[ep_version],
            "episode_number": ep_number.astype(np.int32),
            "duration_s": durations,
        }
    )
    return Catalog(
        series=series,
        episodes=episodes,
        story_of_version=story_of_version,
        version_language=version_language,
        is_original=is_original,
        release_day=release_day,
        story_embedding=story_embedding,
        story_popularity=popularity,
        story_quality=quality,
        version_quality=version_quality,
        n_episodes=n_eps,
        free_episodes=free,
        cliffhanger=cliffhanger,
        episode_offset=episode_offset,
        durations=durations,
        launch=launch,
    )
