"""Viewing simulation: who starts which series, how deep they go, and when they watch.

The unit of simulation is the *journey*: one user working through one series version. A
journey's depth comes from per-episode continuation (slow decay, cliffhanger bumps, the paywall
cliff); its episodes are cut into sittings, and sittings are laid on the user's timeline without
overlap. Everything is array code over journeys and episode views, never a loop per event.
See docs/generator.md for the behavioural model and its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.catalog import Catalog
from synthetic.launches import LAUNCH_TASTE_WEIGHT, log_attraction, taste_offsets
from synthetic.population import HOUR_MS, Users, local_hour_ms

DAY_MS = 86_400_000

WEEKEND_BOOST = 1.3

PAYWALL_CONVERSION = np.array([0.04, 0.35, 0.60, 0.95])  # by payer type: none, ad, coins, sub
LOCKED_PENALTY = np.array([0.6, 0.45, 0.2, 0.0])  # logit cost of each further locked episode
COIN_PACKS = np.array([4.99, 9.99, 19.99])
COIN_PACK_P = np.array([0.5, 0.35, 0.15])
SUBSCRIPTION_USD = 19.99

# --exits kuairand: where an incomplete view ends, as a fraction of the complete threshold
# (0.9 of the duration), fitted by maximum likelihood to the KuaiRand-Pure slice's clicked
# views of 45-180 s that did not reach 0.9 (docs/generator.md, "Exits"): a mixture of early
# swipe-aways, Beta(2.32, 10.6), and exits spread evenly over the episode
KUAIRAND_EARLY_SHARE = 0.398
KUAIRAND_EARLY_BETA = (2.32, 10.6)
EXIT_MODELS = ("classic", "kuairand")

TASTE_WEIGHT = 3.0  # how strongly taste (vs popularity) drives which series a user starts
REPICK_CANDIDATES = 32  # launch mode: best versions considered per journey start


@dataclass(frozen=True)
class Simulation:
    """Episode views and journey-level extras, ready to be turned into events."""

    views: pl.DataFrame
    journeys: pl.DataFrame
    affinity_norm: tuple[float, float] = (0.0, 1.0)  # the taste fit's mean and sd used


def launch_taste_balance(users: Users, catalog: Catalog) -> np.ndarray:
    """Launch mode: the per-story taste offsets, on the first ``BALANCE_USERS`` users.

    A population-level quantity: a streamed generation computes it once on the whole
    population and passes it to every chunk's ``simulate``.
    """
    return taste_offsets(users.taste, catalog.story_embedding, LAUNCH_TASTE_WEIGHT)


def _weekday_weight(day: np.ndarray, start_weekday: int) -> np.ndarray:
    weekday = (day + start_weekday) % 7
    return np.where(weekday >= 5, WEEKEND_BOOST, 1.0)


def _journey_starts(
    rng: np.random.Generator, users: Users, days: int, start_weekday: int
) -> tuple[np.ndarray, np.ndarray]:
    """How many series each user starts, and when (diurnal, weekend-heavy)."""
    end_ms = days * DAY_MS
    active_end = np.minimum(users.churn_ms, end_ms)
    active_days = np.maximum(active_end - users.arrival_ms, 0) / DAY_MS
    n_journeys = 1 + rng.poisson(users.journey_rate * active_days)
    n_journeys = np.minimum(n_journeys, 80)
    user_idx = np.repeat(np.arange(len(users)), n_journeys)
    first = np.concatenate([[True], user_idx[1:] != user_idx[:-1]])

    arrival = users.arrival_ms[user_idx]
    span = np.maximum(active_end[user_idx] - arrival, 1)
    offset_ms = users.utc_offset_h[user_idx] * HOUR_MS
    # day drawn uniformly over the active span, thinned so weekends get more starts
    t_uniform = arrival + (rng.random(len(user_idx)) * span).astype(np.int64)
    day = (t_uniform + offset_ms) // DAY_MS
    for _ in range(3):
        reject = rng.random(len(day)) > _weekday_weight(day, start_weekday) / WEEKEND_BOOST
        redraw = arrival + (rng.random(len(user_idx)) * span).astype(np.int64)
        day = np.where(reject, (redraw + offset_ms) // DAY_MS, day)
    t = day * DAY_MS + local_hour_ms(rng, len(day)) - offset_ms
    t = np.where(first, arrival, np.maximum(t, arrival))
    return user_idx, t


def _choose_series(
    rng: np.random.Generator,
    users: Users,
    catalog: Catalog,
    user_idx: np.ndarray,
    t_ms: np.ndarray,
    k: int = 1,
    taste_balance: np.ndarray | None = None,
) -> np.ndarray:
    """Gumbel-max sampling of the version each journey starts, in chunks of journeys.

    With ``k > 1`` returns each journey's ``k`` best versions, best first (journeys × k).
    ``taste_balance`` (launch mode) is the per-story offsets of ``launch_taste_balance``;
    computed from ``users`` when not given.
    """
    story = catalog.story_of_version
    log_pop = np.log(catalog.story_popularity[story])
    emb = catalog.story_embedding[story]
    is_original = catalog.is_original
    if catalog.launch is not None:  # launch mode: taste decides who, appeal how many
        if taste_balance is None:
            taste_balance = launch_taste_balance(users, catalog)
        balance = taste_balance[story]
    k = min(k, len(story))
    choice = np.empty((len(user_idx), k) if k > 1 else len(user_idx), dtype=np.int64)
    chunk = max(1, 4_000_000 // max(len(story), 1))
    for lo in range(0, len(user_idx), chunk):
        hi = min(lo + chunk, len(user_idx))
        u = user_idx[lo:hi]
        day = (t_ms[lo:hi] // DAY_MS)[:, None]
        affinity = users.taste[u] @ emb.T
        same_lang = users.language[u][:, None] == catalog.version_language[None, :]
        lang_term = np.where(same_lang, 0.0, np.where(is_original[None, :], -2.5, -9.0))
        age = day - catalog.release_day[None, :]
        if catalog.launch is None:
            recency = np.where(age >= 0, 1.2 * np.exp(-np.maximum(age, 0) / 10.0), -np.inf)
            score = log_pop[None, :] + TASTE_WEIGHT * affinity + lang_term + recency
        else:  # launch mode: appeal × (new shelf + word of mouth + long-run level)
            launch = log_attraction(age, day, catalog.launch)
            score = launch + balance[None, :] + LAUNCH_TASTE_WEIGHT * affinity + lang_term
        score += rng.gumbel(size=score.shape)
        if k == 1:
            choice[lo:hi] = np.argmax(score, axis=1)
        else:
            top = np.argpartition(-score, k - 1, axis=1)[:, :k]
            rank = np.argsort(-np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
            choice[lo:hi] = np.take_along_axis(top, rank, axis=1)
    return choice


def _first_unstarted(
    candidates: np.ndarray, story_of_version: np.ndarray, user_idx: np.ndarray, t_ms: np.ndarray
) -> np.ndarray:
    """Per journey, its best candidate whose story the user has not started before (or -1).

    Journeys are taken in time order per user: the r-th journeys of all users at once.
    """
    n, k = candidates.shape
    n_stories = int(story_of_version.max()) + 1 if len(story_of_version) else 1
    order = np.lexsort((t_ms, user_idx))
    sorted_user = user_idx[order]
    first = np.concatenate([[True], sorted_user[1:] != sorted_user[:-1]])
    start_of_run = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    nth = np.empty(n, dtype=np.int64)
    nth[order] = np.arange(n) - start_of_run
    keys = user_idx[:, None] * n_stories + story_of_version[candidates]
    started = np.zeros(0, dtype=np.int64)
    version = np.full(n, -1, dtype=np.int64)
    for r in range(int(nth.max()) + 1 if n else 0):
        rows = np.flatnonzero(nth == r)
        fresh = ~np.isin(keys[rows], started)
        has = fresh.any(axis=1)
        pick = np.argmax(fresh, axis=1)
        rows, pick = rows[has], pick[has]
        version[rows] = candidates[rows, pick]
        started = np.concatenate([started, keys[rows, pick]])
    return version


@dataclass(frozen=True)
class WeakScene:
    """A planted weak scene: ``share`` of the views of the episode still playing at
    ``second`` end inside the 5 s that follow (``--weak-scene SERIES:EPISODE:SECOND:SHARE``)."""

    series_id: str
    episode_number: int
    second: float
    share: float


def simulate(
    rng: np.random.Generator,
    users: Users,
    catalog: Catalog,
    days: int,
    start_weekday: int,
    exit_model: str = "classic",
    weak_scenes: tuple[WeakScene, ...] = (),
    *,
    taste_balance: np.ndarray | None = None,
    affinity_norm: tuple[float, float] | None = None,
) -> Simulation:
    """Run the viewing simulation; returns one row per episode view with its timing.

    ``users`` may be one chunk of the population: users do not interact, and the two
    population-level quantities come from outside when given (so every chunk uses the same):
    ``taste_balance`` (launch mode, ``launch_taste_balance`` of the whole population) and
    ``affinity_norm``, the mean and sd that standardize the journeys' taste fit (otherwise
    those of these journeys; the result's ``affinity_norm`` says which were used).
    """
    user_idx, t_start = _journey_starts(rng, users, days, start_weekday)
    if catalog.launch is None:
        version = _choose_series(rng, users, catalog, user_idx, t_start)
    else:
        # launch mode: a user who already started the best-scoring story starts their best
        # one not yet started (over a long period a user works through their favourites)
        candidates = _choose_series(
            rng, users, catalog, user_idx, t_start, k=REPICK_CANDIDATES, taste_balance=taste_balance
        )
        version = _first_unstarted(candidates, catalog.story_of_version, user_idx, t_start)
        found = version >= 0
        user_idx, t_start, version = user_idx[found], t_start[found], version[found]

    # one journey per user and story: a second pick of a story already started is dropped
    order = np.lexsort((t_start, catalog.story_of_version[version], user_idx))
    key_user, key_story = user_idx[order], catalog.story_of_version[version][order]
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (key_user[1:] == key_user[:-1]) & (key_story[1:] == key_story[:-1])
    keep = np.sort(order[~dup])
    user_idx, t_start, version = user_idx[keep], t_start[keep], version[keep]
    n_j = len(user_idx)

    n_eps = catalog.n_episodes[version]
    free = catalog.free_episodes[version]
    payer = users.payer[user_idx]
    heavy = users.heavy[user_idx]
    affinity = np.einsum(
        "ij,ij->i",
        users.taste[user_idx],
        catalog.story_embedding[catalog.story_of_version[version]],
    )
    if affinity_norm is None:
        affinity_norm = (float(affinity.mean()), float(affinity.std())) if n_j else (0.0, 1.0)
    aff_z = (affinity - affinity_norm[0]) / (affinity_norm[1] + 1e-9)

    # entry episode: most start at 1, a few arrive mid-series from a deep link or a trailer
    mid_entry = rng.random(n_j) < 0.04
    entry = np.where(mid_entry, rng.integers(2, 11, size=n_j), 1)
    entry = np.minimum(entry, np.maximum(free, 1))

    # per-episode continuation, e -> e+1, as logits; reach = first episode not continued
    base = 2.6 + catalog.version_quality[version] + 0.45 * aff_z + 0.4 * heavy
    base += rng.normal(0.0, 0.5, size=n_j)
    reach = np.empty(n_j, dtype=np.int64)
    e = np.arange(1, 91)
    chunk = 200_000
    for lo in range(0, n_j, chunk):
        hi = min(lo + chunk, n_j)
        v = version[lo:hi]
        logit = base[lo:hi, None] - 0.012 * e[None, :] + 0.9 * catalog.cliffhanger[v][:, 1:91]
        logit -= np.where(e[None, :] == 1, 0.8, 0.0)  # the hook: episode 1 loses the most
        fr = free[lo:hi, None]
        locked_after = e[None, :] > fr
        logit -= np.where(locked_after, LOCKED_PENALTY[payer[lo:hi]][:, None], 0.0)
        p = 1.0 / (1.0 + np.exp(-logit))
        convert = PAYWALL_CONVERSION[payer[lo:hi]]
        if catalog.launch is not None:  # launch mode: hits convert better
            z = np.log(convert / (1.0 - convert)) + catalog.launch.paywall_shift[v]
            convert = 1.0 / (1.0 + np.exp(-z))
        p = np.where(e[None, :] == fr, p * convert[:, None], p)
        fail = rng.random(p.shape) >= p
        fail &= e[None, :] >= entry[lo:hi, None]
        fail |= e[None, :] >= n_eps[lo:hi, None]
        reach[lo:hi] = np.argmax(fail, axis=1) + 1
    finished = reach >= n_eps
    stopped_at_paywall = (reach == free) & (free < n_eps)

    # explode journeys into episode views
    n_views = reach - entry + 1
    jv = np.repeat(np.arange(n_j), n_views)
    first_row = np.concatenate([[0], np.cumsum(n_views)[:-1]])
    ep = np.arange(len(jv)) - np.repeat(first_row, n_views) + entry[jv]
    last_of_journey = ep == reach[jv]
    # a rewatch: the same episode started again straight after (counts as another view)
    rewatch = rng.random(len(jv)) < 0.015
    dup_idx = np.repeat(np.arange(len(jv)), np.where(rewatch, 2, 1))
    is_rewatch_copy = np.zeros(len(dup_idx), dtype=bool)
    is_rewatch_copy[1:] = dup_idx[1:] == dup_idx[:-1]
    jv, ep, last_of_journey = jv[dup_idx], ep[dup_idx], last_of_journey[dup_idx]
    last_of_journey &= np.concatenate([dup_idx[1:] != dup_idx[:-1], [True]])
    n_rows = len(jv)

    # sittings: after each view the user may stop for now (heavy viewers binge longer)
    break_p = np.where(users.heavy[user_idx[jv]], 0.05, 0.10)
    breaks = (rng.random(n_rows) < break_p) & ~last_of_journey
    breaks &= ~np.concatenate([is_rewatch_copy[1:], [False]])  # a rewatch follows at once
    sitting = np.zeros(n_rows, dtype=np.int64)
    same_journey = np.concatenate([[False], jv[1:] == jv[:-1]])
    new_sitting = ~same_journey | np.concatenate([[False], breaks[:-1]])
    sitting_global = np.cumsum(new_sitting) - 1
    sitting = sitting_global
    last_in_sitting = np.concatenate([sitting[1:] != sitting[:-1], [True]])

    dur = catalog.durations[catalog.episode_offset[version[jv]] + ep - 1]
    # how far each view plays; an exit mid-episode is mostly in the first seconds (not hooked)
    # or near the end (credits, cliffhanger reached), rarely in the middle
    u = rng.random(n_rows)
    which = rng.random(n_rows)
    early = np.minimum(rng.exponential(4.0, n_rows) + 0.5, dur) / dur
    exit_frac = np.where(
        which < 0.45,
        early,
        np.where(which < 0.8, rng.uniform(0.85, 0.99, n_rows), rng.uniform(0.05, 0.85, n_rows)),
    )
    if exit_model == "kuairand":  # calibrated on real viewing (drawn only in this mode)
        calibrated = np.where(
            rng.random(n_rows) < KUAIRAND_EARLY_SHARE,
            rng.beta(*KUAIRAND_EARLY_BETA, size=n_rows),
            rng.random(n_rows),
        )
        exit_frac = np.maximum(0.9 * calibrated, 0.5 / dur)  # at least half a second
    swiped = ~last_in_sitting & (u < 0.04)  # swiped on to the next episode
    paused = last_in_sitting & ~last_of_journey & (u < 0.3)  # left the app mid-episode
    dropped = last_of_journey & ~finished[jv] & ~stopped_at_paywall[jv]
    frac = np.where(swiped | paused | dropped, exit_frac, 1.0)
    watched = np.round(frac * dur, 1)
    for scene in weak_scenes:  # planted weak scenes (drawn only when asked for)
        series_ids = catalog.series["series_id"].to_list()
        if scene.series_id not in series_ids:
            continue
        hit = (version[jv] == series_ids.index(scene.series_id)) & (ep == scene.episode_number)
        hit &= (watched >= scene.second) & (scene.second + 5 < 0.9 * dur)
        leave = hit & (rng.random(n_rows) < scene.share)
        watched = np.where(
            leave, np.round(scene.second + rng.uniform(0.1, 4.8, n_rows), 1), watched
        )
        frac = np.where(leave, watched / dur, frac)
    full = frac >= 1.0

    # unlocks before each locked view (not before a rewatch: it is already unlocked)
    fr_v = free[jv]
    locked = (ep > fr_v) & ~is_rewatch_copy
    payer_v = payer[jv]
    first_locked = locked & (ep == np.maximum(entry[jv], fr_v + 1))
    unlock_method = np.where(payer_v == 0, 1, payer_v)  # a converted non-payer watched an ad
    ad_unlock = locked & (unlock_method == 1)
    overhead_s = np.where(locked, np.where(ad_unlock, 32.0, 4.0), 0.0)

    # sitting timeline: views back to back (1-3 s autoplay gap, plus unlock time)
    gap_s = rng.uniform(1.0, 3.0, n_rows)
    slot_ms = ((overhead_s + watched + gap_s) * 1000).astype(np.int64)
    lead_ms = rng.integers(2000, 8000, size=n_rows)
    views = pl.DataFrame(
        {
            "journey": jv,
            "sitting": sitting,
            "episode_number": ep.astype(np.int32),
            "duration_s": dur,
            "watched_s": watched,
            "full": full,
            "locked": locked,
            "first_locked": first_locked,
            "unlock_method": unlock_method.astype(np.int8),
            "overhead_ms": (overhead_s * 1000).astype(np.int64),
            "slot_ms": slot_ms,
            "lead_ms": lead_ms,
        }
    ).with_columns(
        offset_ms=pl.col("slot_ms").cum_sum().over("sitting") - pl.col("slot_ms"),
    )

    sittings = views.group_by("sitting", maintain_order=True).agg(
        journey=pl.col("journey").first(),
        sitting_ms=pl.col("slot_ms").sum() + pl.col("lead_ms").first(),
    )
    s_journey = sittings["journey"].to_numpy()
    s_user = user_idx[s_journey]
    first_sitting = np.concatenate([[True], s_journey[1:] != s_journey[:-1]])
    # the next sitting of a series: later that day or a few days on, at a usual hour
    p_same_day = np.where(users.heavy[s_user], 0.5, 0.3)
    day_inc = np.where(first_sitting, 0, rng.geometric(p_same_day) - 1)
    journey_start = t_start[s_journey]
    offset_ms = users.utc_offset_h[s_user] * HOUR_MS
    start_day = (journey_start + offset_ms) // DAY_MS
    cum_day = pl.Series(day_inc).cum_sum().to_numpy()
    cum_day = cum_day - np.maximum.accumulate(np.where(first_sitting, cum_day, 0))
    proposed = (start_day + cum_day) * DAY_MS + local_hour_ms(rng, len(s_journey)) - offset_ms
    proposed = np.where(first_sitting, journey_start, np.maximum(proposed, journey_start))
    # a series' sittings keep their order even when a later one drew an earlier hour
    proposed = (
        pl.DataFrame({"j": s_journey, "p": proposed})
        .select(pl.col("p").cum_max().over("j"))
        .to_series()
        .to_numpy()
    )

    # lay each user's sittings in time order without overlap: start_i = max(proposed_i,
    # end_{i-1} + 60 s), computed for all users at once with a grouped cumulative max
    timeline = (
        pl.DataFrame(
            {
                "sitting": sittings["sitting"].to_numpy(),
                "user": s_user,
                "proposed": proposed,
                "length": sittings["sitting_ms"].to_numpy() + 60_000,
            }
        )
        .sort(["user", "proposed", "sitting"])
        .with_columns(before=pl.col("length").cum_sum().over("user") - pl.col("length"))
        .with_columns(
            sitting_start=pl.col("before")
            + (pl.col("proposed") - pl.col("before")).cum_max().over("user")
        )
        .with_columns(
            prev_end=(pl.col("sitting_start") + pl.col("length") - 60_000).shift(1).over("user")
        )
        .with_columns(
            # a sitting more than 30 min after the previous one opens the app again
            app_open=pl.col("prev_end").is_null()
            | (pl.col("sitting_start") - pl.col("prev_end") > 30 * 60_000),
        )
    )
    timeline = timeline.with_columns(
        app_session=pl.col("app_open").cast(pl.Int64).cum_sum().over("user")
    )

    journeys = pl.DataFrame(
        {
            "journey": np.arange(n_j),
            "user": user_idx,
            "version": version,
            "entry": entry,
            "reach": reach,
            "stopped_at_paywall": stopped_at_paywall,
            "affinity_z": aff_z,
        }
    )
    views = (
        views.join(
            timeline.select("sitting", "sitting_start", "app_open", "app_session"), on="sitting"
        )
        .join(
            journeys.select("journey", "user", "version", "stopped_at_paywall", "reach"),
            on="journey",
        )
        .with_columns(
            view_start_ms=pl.col("sitting_start")
            + pl.col("lead_ms").first().over("sitting")
            + pl.col("offset_ms")
            + pl.col("overhead_ms"),
            is_first_in_sitting=pl.col("offset_ms") == 0,
        )
    )
    # the user leaves for good at churn, and nothing happens after the data end
    churn = pl.Series(users.churn_ms)
    views = views.filter(
        (pl.col("sitting_start") < pl.col("user").map_batches(churn.gather, return_dtype=pl.Int64))
        & (pl.col("sitting_start") < days * DAY_MS)
    )
    if catalog.launch is not None:
        # launch mode simulates existing users' viewing from before the data start: keep the
        # app sessions that begin inside the data (each still opens with its app_open)
        views = views.filter(pl.col("sitting_start").min().over("user", "app_session") >= 0)
    views = views.sort(["user", "view_start_ms", "journey"])
    return Simulation(views=views, journeys=journeys, affinity_norm=affinity_norm)
