"""Turn simulated episode views into the canonical event stream of CONTRACT §2a."""

from __future__ import annotations

import binascii

import numpy as np
import polars as pl

from synthetic.catalog import LANGUAGES, Catalog
from synthetic.population import PLATFORMS, Users
from synthetic.simulate import COIN_PACK_P, COIN_PACKS, SUBSCRIPTION_USD, Simulation

UNLOCK_METHODS = np.array(["", "ad", "coins", "subscription"])
HEARTBEAT_S = 5

_COLUMNS = {
    "event_type": pl.Utf8,
    "ts_ms": pl.Int64,
    "user": pl.Int64,
    "app_session": pl.Int64,
    "version": pl.Int64,
    "episode_number": pl.Int32,
    "position_s": pl.Float64,
    "unlock_method": pl.Utf8,
    "amount_usd": pl.Float64,
}


def random_uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` random UUID-4-shaped strings, built without a Python loop."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = (
        pl.Series(np.frombuffer(binascii.hexlify(raw.tobytes()), dtype="S32"))
        .cast(pl.Binary)
        .cast(pl.Utf8)
    )
    s = pl.DataFrame({"h": hexed}).select(
        pl.concat_str(
            [
                pl.col("h").str.slice(0, 8),
                pl.col("h").str.slice(8, 4),
                pl.col("h").str.slice(12, 4),
                pl.col("h").str.slice(16, 4),
                pl.col("h").str.slice(20, 12),
            ],
            separator="-",
        )
    )
    return s.to_series()


def _frame(event_type: str, **cols: object) -> pl.DataFrame:
    n = len(next(iter(cols.values())))  # type: ignore[arg-type]
    data = {"event_type": [event_type] * n if n else []}
    data.update(cols)  # type: ignore[arg-type]
    df = pl.DataFrame(data)
    missing = [pl.lit(None).alias(c) for c in _COLUMNS if c not in df.columns]
    return df.with_columns(missing).select([pl.col(c).cast(t) for c, t in _COLUMNS.items()])


def build_events(
    rng: np.random.Generator,
    sim: Simulation,
    users: Users,
    catalog: Catalog,
    days: int,
    start_epoch_ms: int,
) -> pl.DataFrame:
    """One row per canonical event, sorted by time, with ``ts_ms`` in epoch milliseconds."""
    v = sim.views
    n = v.height
    start = v["view_start_ms"].to_numpy()
    watched = v["watched_s"].to_numpy()
    full = v["full"].to_numpy()
    locked = v["locked"].to_numpy()
    first_locked = v["first_locked"].to_numpy()
    method = v["unlock_method"].to_numpy()
    user = v["user"].to_numpy()
    app_session = v["app_session"].to_numpy()
    version = v["version"].to_numpy()
    ep = v["episode_number"].to_numpy()
    end_ms = (start + watched * 1000).astype(np.int64)
    common = {"user": user, "app_session": app_session, "version": version}

    def at(mask: np.ndarray, ts: np.ndarray, **extra: object) -> dict[str, object]:
        out: dict[str, object] = {k: a[mask] for k, a in common.items()}
        out["ts_ms"] = ts[mask]
        for k, val in extra.items():
            out[k] = val[mask] if isinstance(val, np.ndarray) else val
        return out

    everything = np.ones(n, dtype=bool)
    frames = [
        _frame("episode_start", **at(everything, start, episode_number=ep)),
        _frame(
            "episode_complete",
            **at(full, end_ms, episode_number=ep, position_s=v["duration_s"].to_numpy()),
        ),
        _frame("episode_exit", **at(~full, end_ms, episode_number=ep, position_s=watched)),
    ]

    # heartbeats every 5 s of playback
    n_hb = np.floor(watched / HEARTBEAT_S).astype(np.int64)
    hb_row = np.repeat(np.arange(n), n_hb)
    hb_k = np.arange(len(hb_row)) - np.repeat(np.cumsum(n_hb) - n_hb, n_hb) + 1
    frames.append(
        _frame(
            "episode_progress",
            ts_ms=start[hb_row] + hb_k * HEARTBEAT_S * 1000,
            user=user[hb_row],
            app_session=app_session[hb_row],
            version=version[hb_row],
            episode_number=ep[hb_row],
            position_s=(hb_k * HEARTBEAT_S).astype(np.float64),
        )
    )

    # the app opens at the first view of each app session
    opens = v["app_open"].to_numpy() & v["is_first_in_sitting"].to_numpy()
    open_ts = v["sitting_start"].to_numpy()
    frames.append(
        _frame(
            "app_open",
            ts_ms=open_ts[opens],
            user=user[opens],
            app_session=app_session[opens],
            version=np.full(int(opens.sum()), -1),
        )
    )

    # paywall, purchases and unlocks before each locked view
    overhead = v["overhead_ms"].to_numpy()
    shows_paywall = locked & (first_locked | (method == 1))
    frames.append(_frame("paywall_view", **at(shows_paywall, start - overhead, episode_number=ep)))
    frames.append(
        _frame(
            "episode_unlock",
            **at(locked, start - 1000, episode_number=ep, unlock_method=UNLOCK_METHODS[method]),
        )
    )
    locked_rank = (
        pl.DataFrame({"j": v["journey"].to_numpy(), "l": locked.astype(np.int64)})
        .select(pl.col("l").cum_sum().over("j"))
        .to_series()
        .to_numpy()
    )
    coin_buy = locked & (method == 2) & ((locked_rank - 1) % 10 == 0)
    sub_buy = locked & (method == 3) & first_locked & (rng.random(n) < 0.3)
    amount = np.where(
        method == 3, SUBSCRIPTION_USD, COIN_PACKS[rng.choice(3, size=n, p=COIN_PACK_P)]
    )
    frames.append(_frame("purchase", **at(coin_buy | sub_buy, start - 2000, amount_usd=amount)))

    # a viewer who stops at the paywall saw the lock screen of the next episode, then left
    stop = (
        v["stopped_at_paywall"].to_numpy()
        & (ep == v["reach"].to_numpy())
        & np.concatenate([v["journey"].to_numpy()[1:] != v["journey"].to_numpy()[:-1], [True]])
    )
    frames.append(_frame("paywall_view", **at(stop, end_ms + 1500, episode_number=ep + 1)))

    # likes, shares and follows; likes depend on how well the series fits the user
    aff = sim.journeys["affinity_z"].to_numpy()[v["journey"].to_numpy()] if n else np.zeros(0)
    p_like = 0.02 + 0.05 / (1.0 + np.exp(-aff))
    like = rng.random(n) < p_like
    inside = start + (rng.random(n) * watched * 1000).astype(np.int64)
    frames.append(_frame("like", **at(like, inside, episode_number=ep)))
    share = rng.random(n) < 0.004
    frames.append(_frame("share", **at(share, inside + 1, episode_number=ep)))
    journey_idx = v["journey"].to_numpy()
    view_no = (
        pl.DataFrame({"j": journey_idx}).select(pl.int_range(pl.len()).over("j")).to_series()
    ).to_numpy()
    follow = (view_no == 1) & (rng.random(n) < 0.10 + 0.15 / (1.0 + np.exp(-aff)))
    frames.append(_frame("follow", **at(follow, end_ms + 500)))

    events = pl.concat(frames).filter(pl.col("ts_ms") < days * 86_400_000)
    events = events.sort(
        ["ts_ms", "user", "event_type", "episode_number", "position_s"], nulls_last=True
    )
    series_ids = catalog.series["series_id"].to_numpy()
    version_col = events["version"].to_numpy()
    # the client's own session id: one per (user, app session); derived from a random table
    sess = (
        events.select("user", "app_session")
        .unique(maintain_order=False)
        .sort(["user", "app_session"])
    )
    session_ids = random_uuids(rng, sess.height)
    sess = sess.with_columns(session_id=session_ids)
    events = events.join(sess, on=["user", "app_session"], how="left", maintain_order="left")
    # the client numbers its events within its session: "<session_id>-<sequence>"
    events = events.with_columns(
        event_id=pl.format(
            "{}-{}",
            pl.col("session_id"),
            pl.int_range(1, pl.len() + 1).over("session_id").cast(pl.Utf8).str.zfill(4),
        ),
        ts_ms=pl.col("ts_ms") + start_epoch_ms,
        series_id=pl.Series(series_ids, dtype=pl.Utf8)
        .gather(np.maximum(version_col, 0))
        .zip_with(pl.Series(version_col >= 0), pl.Series([None], dtype=pl.Utf8)),
        user_id=pl.Series(users.user_id).gather(events["user"]),
        language=pl.Series(LANGUAGES[users.language]).gather(events["user"]),
        platform=pl.Series(PLATFORMS[users.platform]).gather(events["user"]),
        app_version=pl.Series(users.app_version).gather(events["user"]),
        country=pl.Series(users.country).gather(events["user"]),
        is_guest=pl.Series(users.is_guest).gather(events["user"]),
    )
    return events.select(
        "event_id",
        "event_type",
        "ts_ms",
        "user_id",
        "session_id",
        "series_id",
        "episode_number",
        "position_s",
        "unlock_method",
        "amount_usd",
        "platform",
        "app_version",
        "country",
        "language",
        "is_guest",
        "user",
        "version",
    )
