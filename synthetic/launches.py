"""Launch mode (``generate --launches``): a steady flow of releases with planted, heavy-tailed
appeal, so launch analytics (launch curves, same-age benchmarks, early forecasts and their
backtest) can be tested against known truths.

Every story gets a log-normal *appeal*. It multiplies how strongly the app surfaces the story
(the "new" shelf, word of mouth, its long-run level), shifts its hook and continuation, and
shifts paywall conversion; high-appeal originals are dubbed more often and sooner. A version's
attraction on a day depends on its age (days since its release date)::

    attraction = (appeal^SHELF_APPEAL_EXPONENT × shelf(age)
                  + appeal × (word_of_mouth(age) + tail(age))) × exp(chart(day))
    shelf(age)         = SHELF_BOOST × promotion × exp(-age / SHELF_DAYS)
    word_of_mouth(age) = WOM_WEIGHT × appeal^WOM_EXPONENT × virality
                         × x^WOM_SHAPE × exp(WOM_SHAPE × (1 - x)),   x = age / WOM_PEAK_DAYS
    tail(age)          = TAIL_FLOOR + (1 - TAIL_FLOOR) × exp(-age / TAIL_DAYS)

Its log replaces the default mode's popularity and recency terms in the viewing simulation's
choice score. ``promotion`` (how prominently the app placed the release) and ``virality`` (how
much it got talked about) are log-normal per version and independent of appeal: the first moves
early numbers, the second late ones. ``chart`` is a stationary AR(1) per version and day (where
the charts put it), noise that averages out over weeks. The taste term is balanced per story
(``taste_offsets``) so that taste decides *who* watches a story and appeal *how many*. The
release flow starts ``FLOW_HISTORY_DAYS`` before the data, so a launch on the first day faces
the same competition as one on the last. docs/generator.md ("Launch mode") has the measured
consequences.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from synthetic.catalog import (
    DUB_TARGET_WEIGHT,
    Catalog,
    LaunchTruth,
    assemble_catalog,
    draw_genres,
    draw_story_shape,
    dub_pairs,
)

# the release flow: originals per week by production, live action / hybrid and AI-made
HUMAN_PER_WEEK = 3
AI_PER_WEEK = 4
HYBRID_SHARE = 0.27  # of the non-AI originals
FLOW_HISTORY_DAYS = 120  # the flow runs this long before the data start
BACK_CATALOG_MIN_AGE = FLOW_HISTORY_DAYS + 1  # older stories: released 121-365 days before

# planted appeal: log-normal, AI-made stories a little weaker on average
APPEAL_SIGMA = 1.5
AI_LOG_APPEAL_SHIFT = -0.3

# how appeal acts on discovery (the choice score), the hook and paywall conversion
SHELF_BOOST = 6.0  # the "new" shelf on release day, vs the long-run level 1
SHELF_DAYS = 2.0
SHELF_APPEAL_EXPONENT = 0.3  # shelf viewers grow with appeal^0.3 (word of mouth: appeal^2)
PROMOTION_SIGMA = 0.7  # log-sd of the per-version promotion factor on the shelf
WOM_WEIGHT = 3.0
WOM_EXPONENT = 1.0  # word of mouth grows with appeal squared overall (appeal × appeal^1)
WOM_PEAK_DAYS = 8.0
WOM_SHAPE = 2.0  # word of mouth starts slowly: ~0.1 of its peak on day 1, ~0.6 on day 3
VIRALITY_SIGMA = 1.0  # log-sd of the per-version factor on word of mouth
DAILY_SIGMA = 0.9  # chart position: a stationary AR(1) on log attraction, per version and day
DAILY_RHO = 0.7
TAIL_FLOOR = 0.15  # the long-run level fades to this share over TAIL_DAYS
TAIL_DAYS = 45.0
LAUNCH_TASTE_WEIGHT = 1.0  # the taste term's weight in the choice score (default mode: 3.0)
BALANCE_USERS = 2000  # users the taste balance is computed on
APPEAL_REFERENCE = 1.5  # log appeal with no hook / paywall shift (about the viewed median)
QUALITY_PER_LOG_APPEAL = 0.45  # continuation logit shift (hook, depth) per unit of log appeal
QUALITY_NOISE = 0.25
PAYWALL_PER_LOG_APPEAL = 0.7  # paywall-conversion logit shift per unit of log appeal

# dubs: more likely and sooner for high-appeal originals
DUB_P_BASE = 0.04  # P(dub into a language) = min(0.9, DUB_P_BASE × appeal^1.5) × target weight
DUB_P_EXPONENT = 1.5
DUB_MIN_DELAY = 14
DUB_DELAY_SCALE = 13.0  # delay = 14 + Gamma(2, 13 / appeal^0.7) days
DUB_DELAY_EXPONENT = 0.7
DUB_MAX_DELAY = 180


def log_attraction(age: np.ndarray, day: np.ndarray, truth: LaunchTruth) -> np.ndarray:
    """Log attraction of every version (columns) at ``age`` days; ``-inf`` before release.

    ``age`` is journeys × versions, ``day`` the journeys' day in the data (a column).
    """
    a = np.maximum(age, 0).astype(np.float64)
    appeal = truth.appeal[None, :]
    # the shelf shows every release; its cover and trailer convert with appeal only partly
    shelf = SHELF_BOOST * truth.promotion[None, :] * np.exp(-a / SHELF_DAYS)
    shelf = shelf * appeal ** (SHELF_APPEAL_EXPONENT - 1.0)
    x = a / WOM_PEAK_DAYS
    wom = (
        WOM_WEIGHT
        * appeal**WOM_EXPONENT
        * truth.virality[None, :]
        * x**WOM_SHAPE
        * np.exp(WOM_SHAPE * (1.0 - x))
    )
    tail = TAIL_FLOOR + (1.0 - TAIL_FLOOR) * np.exp(-a / TAIL_DAYS)
    # (a journey drawn at a late local hour of the last day may fall on the next UTC day;
    # its views are cut at the data end anyway)
    chart = truth.daily.T[np.clip(day[:, 0], 0, truth.daily.shape[1] - 1)]
    value = np.log(appeal * (shelf + wom + tail)) + chart
    return np.where(age >= 0, value, -np.inf)


def _daily_shocks(rng: np.random.Generator, n_versions: int, days: int) -> np.ndarray:
    """A stationary AR(1) log shock per version and day: where the app's charts put it."""
    innovations = rng.normal(0.0, DAILY_SIGMA * np.sqrt(1 - DAILY_RHO**2), (n_versions, days))
    shocks = np.empty((n_versions, days))
    shocks[:, 0] = rng.normal(0.0, DAILY_SIGMA, n_versions)
    for d in range(1, days):  # a loop over days, not events
        shocks[:, d] = DAILY_RHO * shocks[:, d - 1] + innovations[:, d]
    return shocks


def taste_offsets(
    taste: np.ndarray, story_embedding: np.ndarray, weight: float, iterations: int = 40
) -> np.ndarray:
    """Per-story offsets that cancel the audience size the taste term alone would give.

    ``weight × taste @ embedding`` varies a lot in spread between stories (a story with an
    extreme latent vector is a near-certain pick for a few users), which would make taste
    geometry, not appeal, decide how big a launch gets. The offsets balance a static
    competition of all stories on taste alone (Sinkhorn scaling, on at most 2,000 users) so
    that each story's expected share of picks is equal; appeal then scales it.
    """
    term = weight * taste[:BALANCE_USERS] @ story_embedding.T
    term -= term.max(axis=1, keepdims=True)
    kernel = np.exp(term)
    offset = np.zeros(story_embedding.shape[0])
    for _ in range(iterations):
        scaled = kernel * np.exp(offset)[None, :]
        share = (scaled / scaled.sum(axis=1, keepdims=True)).sum(axis=0)
        offset -= np.log(share / share.mean())
    return offset - offset.mean()


def build_launch_catalog(
    rng: np.random.Generator, n_back_versions: int, start: dt.date, days: int
) -> Catalog:
    """A back catalog plus a steady flow of releases, every story with a planted appeal.

    ``n_back_versions`` sizes the back catalog as in the default mode (about 1/1.6 of it
    originals, released 121-365 days before ``start``); the flow adds originals from
    ``FLOW_HISTORY_DAYS`` before the start to the last day, and dubs follow by appeal. Dubs that
    would be released after the data end are not in the catalog.
    """
    n_back = max(1, int(np.ceil(n_back_versions / 1.6)))
    # a release schedule: every week the same number of originals, on random days of it
    week_start = np.arange(-FLOW_HISTORY_DAYS, days, 7)
    human_day = (
        week_start[:, None] + rng.integers(0, 7, (len(week_start), HUMAN_PER_WEEK))
    ).ravel()
    ai_day = (week_start[:, None] + rng.integers(0, 7, (len(week_start), AI_PER_WEEK))).ravel()
    human_day, ai_day = human_day[human_day < days], ai_day[ai_day < days]
    back_day = -rng.integers(BACK_CATALOG_MIN_AGE, 366, size=n_back)
    back_u = rng.random(n_back)
    back_production = np.where(back_u < 0.2, 1, np.where(back_u < 0.35, 2, 0))
    human_production = np.where(rng.random(len(human_day)) < HYBRID_SHARE, 2, 0)
    release_story = np.concatenate([back_day, human_day, ai_day])
    production_story = np.concatenate(
        [back_production, human_production, np.ones(len(ai_day), dtype=np.int64)]
    )
    # stories in release order (ties: back catalog, then live action / hybrid, then AI)
    order = np.argsort(release_story, kind="stable")
    release_story, production_story = release_story[order], production_story[order]
    n_stories = len(release_story)

    genre_hot, story_embedding = draw_genres(rng, n_stories)
    log_appeal = rng.normal(0.0, APPEAL_SIGMA, size=n_stories)
    log_appeal += np.where(production_story == 1, AI_LOG_APPEAL_SHIFT, 0.0)
    appeal = np.exp(log_appeal)
    # hook and paywall shifts are centred on the story a typical *viewer* sees (views lean to
    # high appeal), so the pooled funnel stays close to the default mode's
    relative = log_appeal - APPEAL_REFERENCE
    quality = QUALITY_PER_LOG_APPEAL * relative + rng.normal(0.0, QUALITY_NOISE, n_stories)
    story_language, n_episodes_story, free_story, mean_duration = draw_story_shape(rng, n_stories)

    # dubs: each (story, other language) pair is dubbed with a probability rising with
    # appeal, after a delay falling with it (a studio dubs what it sees working)
    pair_story, pair_lang = dub_pairs(story_language)
    pair_appeal = appeal[pair_story]
    p_dub = np.minimum(0.9, DUB_P_BASE * pair_appeal**DUB_P_EXPONENT) * DUB_TARGET_WEIGHT[pair_lang]
    dubbed = rng.random(len(pair_story)) < p_dub
    delay = DUB_MIN_DELAY + rng.gamma(
        2.0, DUB_DELAY_SCALE / pair_appeal**DUB_DELAY_EXPONENT, size=len(pair_story)
    )
    delay = np.minimum(np.rint(delay).astype(np.int64), DUB_MAX_DELAY)
    dub_day = release_story[pair_story] + delay
    keep = dubbed & (dub_day <= days - 1)
    dub_story, dub_lang, dub_day = pair_story[keep], pair_lang[keep], dub_day[keep]
    dub_order = np.argsort(dub_day, kind="stable")
    dub_story, dub_lang, dub_day = dub_story[dub_order], dub_lang[dub_order], dub_day[dub_order]

    story_of_version = np.concatenate([np.arange(n_stories), dub_story])
    version_language = np.concatenate([story_language, dub_lang])
    is_original = np.concatenate([np.ones(n_stories, bool), np.zeros(len(dub_story), bool)])
    release_day = np.concatenate([release_story, dub_day])
    version_quality = quality[story_of_version] - np.where(is_original, 0.0, 0.10)
    return assemble_catalog(
        rng,
        start,
        genre_hot=genre_hot,
        story_embedding=story_embedding,
        popularity=appeal,  # the long-run attraction
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
        launch=LaunchTruth(
            appeal=appeal[story_of_version],
            promotion=rng.lognormal(0.0, PROMOTION_SIGMA, size=len(story_of_version)),
            virality=rng.lognormal(0.0, VIRALITY_SIGMA, size=len(story_of_version)),
            paywall_shift=PAYWALL_PER_LOG_APPEAL * relative[story_of_version],
            daily=_daily_shocks(rng, len(story_of_version), days),
        ),
    )
