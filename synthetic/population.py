"""Synthetic users: language, country, device, taste, activity, payment habit and churn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.catalog import GENRE_WEIGHTS, GENRES, LANGUAGES, LATENT_DIMS

USER_LANGUAGE_P = np.array([0.60, 0.15, 0.10, 0.07, 0.05, 0.03])
# country per language and its UTC offset in hours (for the time-of-day rhythm)
COUNTRIES = {
    "en": (["US", "GB", "PH", "CA"], [0.6, 0.15, 0.15, 0.10], [-5, 0, 8, -5]),
    "es": (["MX", "ES", "CO"], [0.5, 0.3, 0.2], [-6, 1, -5]),
    "pt": (["BR", "PT"], [0.85, 0.15], [-3, 0]),
    "ko": (["KR"], [1.0], [9]),
    "ja": (["JP"], [1.0], [9]),
    "fr": (["FR", "CA"], [0.8, 0.2], [1, -5]),
}
PLATFORMS = np.array(["ios", "android", "web"])
PLATFORM_P = np.array([0.45, 0.50, 0.05])
APP_VERSIONS = np.array(["3.4.1", "3.5.0", "3.5.2"])
# payer types: who converts at the paywall and how they unlock
PAYER_TYPES = np.array(["none", "ad", "coins", "subscription"])
PAYER_P = np.array([0.44, 0.40, 0.12, 0.04])
HOUR_MS = 3_600_000
# launch mode: mean lifetimes in days (the default mode: heavy 45, light 14)
LAUNCH_LIFETIME_HEAVY = 60.0
LAUNCH_LIFETIME_LIGHT = 21.0
LAUNCH_HISTORY_DAYS = 14  # launch mode: existing users' simulated viewing before the data
DAY_MS = 86_400_000
# local time-of-day weights: a lunch bump and an evening peak, quiet nights
HOUR_WEIGHTS = np.array(
    [
        3,
        2,
        1,
        0.6,
        0.4,
        0.4,
        0.8,
        1.5,
        2,
        2.2,
        2.4,
        2.8,
        3.6,
        3.4,
        2.8,
        2.8,
        3,
        3.4,
        4,
        5,
        6,
        6.5,
        6,
        4.5,
    ]
)
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


def local_hour_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds into a local day, drawn from the time-of-day rhythm."""
    hour = rng.choice(24, size=n, p=HOUR_P)
    return hour * HOUR_MS + rng.integers(0, HOUR_MS, size=n)


@dataclass(frozen=True)
class Users:
    """Column arrays, one entry per user."""

    user_id: np.ndarray
    language: np.ndarray  # index into LANGUAGES
    country: np.ndarray
    utc_offset_h: np.ndarray
    platform: np.ndarray  # index into PLATFORMS
    app_version: np.ndarray
    is_guest: np.ndarray  # no account: Segment sends only anonymousId
    taste: np.ndarray  # users × (genres + latent dims)
    heavy: np.ndarray  # bool: binge-heavy viewer
    journey_rate: np.ndarray  # new series started per active day
    payer: np.ndarray  # index into PAYER_TYPES
    arrival_ms: np.ndarray  # first moment in the app, ms since the data start (launch mode:
    # negative for users already watching before the data start)
    churn_ms: np.ndarray  # moment the user leaves for good, ms since the data start

    def __len__(self) -> int:
        return len(self.user_id)

    def slice(self, lo: int, hi: int) -> Users:
        """Users ``lo`` to ``hi - 1`` (a chunk of a streamed generation), ids unchanged."""
        return Users(**{name: getattr(self, name)[lo:hi] for name in self.__dataclass_fields__})


def build_users(rng: np.random.Generator, n_users: int, days: int, launches: bool = False) -> Users:
    """Draw ``n_users`` users, some present at the start and the rest arriving every day.

    With ``launches`` (launch mode) the population is stationary over a long period: the
    share of users already present at the start is each type's mean lifetime over
    (lifetime + days), lifetimes are longer (a loyal base), and an existing user's
    ``arrival_ms`` is negative: its viewing is simulated from ``LAUNCH_HISTORY_DAYS`` before
    the data start (and cut there), so the daily audience neither ramps up at the start nor
    collapses by the end.
    """
    language = rng.choice(len(LANGUAGES), size=n_users, p=USER_LANGUAGE_P)
    country = np.empty(n_users, dtype=object)
    offset = np.zeros(n_users, dtype=np.int64)
    for li, lang in enumerate(LANGUAGES):
        mask = language == li
        names, probs, offsets = COUNTRIES[str(lang)]
        pick = rng.choice(len(names), size=int(mask.sum()), p=probs)
        country[mask] = np.array(names)[pick]
        offset[mask] = np.array(offsets)[pick]

    n_genres = len(GENRES)
    genre_taste = rng.dirichlet(GENRE_WEIGHTS * 2.5, size=n_users) * np.sqrt(n_genres)
    latent_taste = rng.normal(0.0, 0.8, size=(n_users, LATENT_DIMS))
    taste = np.hstack([genre_taste, latent_taste])

    heavy = rng.random(n_users) < 0.28
    journey_rate = rng.lognormal(np.log(np.where(heavy, 0.45, 0.16)), 0.4)

    day_ms = DAY_MS
    mean_lifetime = np.where(heavy, 45.0, 14.0)
    if launches:
        mean_lifetime = np.where(heavy, LAUNCH_LIFETIME_HEAVY, LAUNCH_LIFETIME_LIGHT)
        p_existing = mean_lifetime / (mean_lifetime + days)
    else:
        p_existing = 0.35
    existing = rng.random(n_users) < p_existing
    # an existing user's first visit in the period comes within a few days; new users install
    # on any day; both at a usual local hour
    first_visit_day = np.minimum(rng.exponential(1.5, size=n_users).astype(np.int64), days - 1)
    install_day = rng.integers(0, max(days, 1), size=n_users)
    arrival_day = np.where(existing, first_visit_day, install_day)
    arrival_ms = arrival_day * day_ms + local_hour_ms(rng, n_users) - offset * HOUR_MS
    arrival_ms = np.clip(arrival_ms, 0, days * day_ms - 1)
    # lifetime: heavy viewers stay longer; an existing user may churn early in the period
    lifetime_days = rng.exponential(mean_lifetime)
    churn_ms = arrival_ms + (lifetime_days * day_ms).astype(np.int64)
    if launches:
        # an existing user has been watching for a while: its simulated history starts
        # LAUNCH_HISTORY_DAYS before the data (journeys in progress, stories already seen; only app
        # sessions from the data start on are written), and it stays a (memoryless)
        # lifetime from the data start
        history_ms = arrival_ms - arrival_day * day_ms - LAUNCH_HISTORY_DAYS * day_ms
        arrival_ms = np.where(existing, history_ms, arrival_ms)
        churn_ms = np.where(existing, (lifetime_days * day_ms).astype(np.int64), churn_ms)

    is_guest = rng.random(n_users) < 0.08
    # a guest has no account: the app identifies it by its device's anonymous id
    user_id = np.where(
        is_guest,
        np.char.add("anon-", np.char.zfill(np.arange(n_users).astype(str), 7)),
        np.char.add("u", np.char.zfill(np.arange(n_users).astype(str), 7)),
    )
    return Users(
        user_id=user_id,
        language=language,
        country=country.astype(str),
        utc_offset_h=offset,
        platform=rng.choice(len(PLATFORMS), size=n_users, p=PLATFORM_P),
        app_version=APP_VERSIONS[rng.choice(3, size=n_users, p=[0.2, 0.3, 0.5])],
        is_guest=is_guest,
        taste=taste,
        heavy=heavy,
        journey_rate=journey_rate,
        payer=rng.choice(len(PAYER_TYPES), size=n_users, p=PAYER_P),
        arrival_ms=arrival_ms,
        churn_ms=churn_ms,
    )
