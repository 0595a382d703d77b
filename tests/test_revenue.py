"""Revenue allocated through unlocks (METRICS.md "Revenue per series"), worked out by hand."""

from __future__ import annotations

import json

import pytest

from core.config import MetricParams
from core.warehouse import working_database
from features import build_all
from ingest.events import ingest_file
from tests.test_engagement import NOW, ev, hand_catalog


def unlock(eid: str, ts: str, user: str, series: str, episode: int, method: str) -> dict:
    return ev(eid, "episode_unlock", ts, user, series, episode) | {"unlock_method": method}


def purchase(eid: str, ts: str, user: str, usd: float, series: str | None = None) -> dict:
    record = ev(eid, "purchase", ts, user) | {"amount_usd": usd}
    return record | ({"series_id": series} if series else {})


EVENTS = [
    # X buys $9.99 of coins while in S1 and spends them on three unlocks: two in S1, one in S2
    purchase("x1", "2026-09-07T10:00:00Z", "X", 9.99, "S1"),
    unlock("x2", "2026-09-07T10:00:05Z", "X", "S1", 2, "coins"),
    unlock("x3", "2026-09-07T10:02:00Z", "X", "S1", 3, "coins"),
    unlock("x4", "2026-09-08T10:00:00Z", "X", "S2", 2, "coins"),
    # Y watches an ad to unlock S2 episode 2: no purchase, worth ad_unlock_usd
    unlock("y1", "2026-09-07T11:00:00Z", "Y", "S2", 2, "ad"),
    # Z subscribes ($19.99, no series on the purchase); within 7 days: S1 episode 2 (unlocked
    # and watched), S1 episode 1, S2 episode 1: three episodes. S2 episode 1 again on the 9th
    # day, after the subscription ended: not paid for by it
    purchase("z1", "2026-09-07T12:00:00Z", "Z", 19.99),
    unlock("z2", "2026-09-07T12:00:01Z", "Z", "S1", 2, "subscription"),
    ev("z3", "episode_start", "2026-09-07T12:00:10Z", "Z", "S1", 1),
    ev("z4", "episode_start", "2026-09-07T12:03:00Z", "Z", "S1", 2),
    ev("z5", "episode_start", "2026-09-07T12:06:00Z", "Z", "S2", 1),
    ev("z6", "episode_start", "2026-09-16T12:00:00Z", "Z", "S2", 1),
]


def test_revenue_allocated_through_unlocks_by_hand(tmp_path) -> None:
    p = hand_catalog(tmp_path)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in EVENTS))
    with working_database(p) as con:
        assert ingest_file(con, path, now=NOW).quarantined == 0
        build_all(con, MetricParams(), full=True)
        per_series = con.execute(
            "SELECT series_id, sum(revenue_usd), sum(coins_usd), sum(ad_usd), "
            "sum(subscription_usd), sum(allocated_revenue_usd) "
            "FROM analytics.series_revenue_daily GROUP BY 1 ORDER BY 1"
        ).fetchall()
        card = dict(
            con.execute(
                "SELECT series_id, allocated_revenue_usd FROM analytics.series_scorecard"
            ).fetchall()
        )
        balance = con.execute("SELECT * FROM derived.revenue_balance").fetchone()
    a = pytest.approx
    coin = 9.99 / 3
    sub = 19.99 / 3
    assert per_series == [
        ("S1", a(9.99), a(2 * coin), 0.0, a(2 * sub), a(2 * coin + 2 * sub)),
        ("S2", 0.0, a(coin), a(0.02), a(sub), a(coin + 0.02 + sub)),
    ]
    assert card == {"S1": a(2 * coin + 2 * sub), "S2": a(coin + 0.02 + sub)}
    # every dollar bought was allocated; the ad money comes on top
    assert balance == (a(9.99 + 19.99), a(9.99 + 19.99), a(0.02))
