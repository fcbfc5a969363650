"""A room's figures and minutes computed by PostgreSQL in one query (docs/analytics.md).

The same figures as rooms/analytics/figures.py, which stays the reference (and what runs on SQLite):
each listener's sessions clipped to the room's window and merged, arrivals and departures as edges
(departures first at the same instant), the running count over them. Done set-based, a live room of
10,000 sessions is reported without moving its rows into Python (bench/analytics.py,
report_live_p95_ms); tests/rooms/test_analytics_aggregates.py holds both ways to the same answers.
"""

from datetime import UTC, datetime

from django.db import connection

from . import figures as compute
from .models import ListenerSession

_QUERY = """
WITH raw AS (
    SELECT user_id, joined_at, source, route,
           GREATEST(joined_at, %(ws)s) AS st,
           LEAST(COALESCE(left_at, %(we)s), %(we)s) AS en
    FROM {table}
    WHERE room_id = %(room)s AND NOT on_stage AND joined_at IS NOT NULL {since}
),
-- An anonymous session is a listener of its own; a signed-in person's sessions are merged.
marked AS (
    SELECT user_id, st, en,
           CASE WHEN st <= MAX(en) OVER (PARTITION BY user_id ORDER BY st, en
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS fresh
    FROM raw WHERE user_id IS NOT NULL AND en > st
),
numbered AS (
    SELECT user_id, st, en,
           SUM(fresh) OVER (PARTITION BY user_id ORDER BY st, en ROWS UNBOUNDED PRECEDING) AS piece
    FROM marked
),
spans AS (
    SELECT user_id, MIN(st) AS st, MAX(en) AS en FROM numbered GROUP BY user_id, piece
    UNION ALL
    SELECT NULL, st, en FROM raw WHERE user_id IS NULL AND en > st
),
totals AS (
    SELECT TRUE AS signed_in, SUM(date_part('epoch', en - st)) AS secs
    FROM spans WHERE user_id IS NOT NULL GROUP BY user_id
    UNION ALL
    SELECT FALSE, date_part('epoch', en - st) FROM spans WHERE user_id IS NULL
),
edges AS (SELECT st AS t, 1 AS d FROM spans UNION ALL SELECT en AS t, -1 AS d FROM spans),
running AS (
    SELECT t, d,
           SUM(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n,
           ROW_NUMBER() OVER (ORDER BY t, d) AS i
    FROM edges
),
firsts AS (
    SELECT * FROM (
        SELECT DISTINCT ON (user_id) source, route FROM raw
        WHERE user_id IN (SELECT user_id FROM spans WHERE user_id IS NOT NULL)
        ORDER BY user_id, joined_at
    ) first_of_a_person
    UNION ALL
    SELECT source, route FROM raw WHERE user_id IS NULL AND en > st
)
SELECT
    (SELECT json_build_object(
        'unique', COUNT(*),
        'signed_in', COUNT(*) FILTER (WHERE signed_in),
        'seconds', COALESCE(SUM(secs), 0),
        'median', COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY secs), 0),
        'retention', json_build_array({retention})
    ) FROM totals WHERE %(with_figures)s),
    -- The peak: the first edge (in their order) that reaches the most.
    (SELECT json_build_array(n, date_part('epoch', t)) FROM running ORDER BY n DESC, i LIMIT 1),
    (SELECT json_agg(json_build_array(slot, top, date_part('epoch', first_t), net, joins, leaves)) FROM (
        SELECT slot, MAX(n) AS top, MIN(t) AS first_t, SUM(d) AS net, COUNT(*) FILTER (WHERE d = 1) AS joins,
               COUNT(*) FILTER (WHERE d = -1 AND t < %(we)s) AS leaves
        FROM (
            SELECT *, LEAST(GREATEST(FLOOR(date_part('epoch', t - %(first_at)s) / 60), 0), %(last_slot)s)::int
                      AS slot
            FROM running
        ) slotted
        GROUP BY slot
    ) per_slot),
    (SELECT json_agg(json_build_array(source, route)) FROM (
        SELECT COALESCE(NULLIF(source, ''), 'direct') AS source,
               COALESCE(NULLIF(route, ''), 'websocket') AS route
        FROM firsts WHERE %(with_figures)s
    ) first_of_each)
"""


def available() -> bool:
    """Whether this database computes the figures itself (PostgreSQL); else figures.py does."""
    return connection.vendor == "postgresql"


def _most_common(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def room_summary(
    room_id: int, window: tuple[datetime, datetime], *, since: datetime | None = None, figures: bool = True
) -> tuple[dict | None, list[compute.Minute]]:
    """The room's figures (as figures.Figures.as_dict(), or None without `figures`) and its minutes
    over `window`; with `since`, only the sessions still there at that moment or after."""
    window_start, window_end = window
    first = int(window_start.timestamp() // 60) * 60
    count = max(1, int((window_end.timestamp() - first + 59) // 60))
    sql = _QUERY.format(
        table=connection.ops.quote_name(ListenerSession._meta.db_table),
        key=connection.ops.quote_name("key"),
        since="AND (left_at IS NULL OR left_at >= %(since)s)" if since is not None else "",
        retention=", ".join(f"COUNT(*) FILTER (WHERE secs >= {m * 60})" for m in compute.RETENTION_MINUTES),
    )
    params = {
        "room": room_id,
        "ws": window_start,
        "we": window_end,
        "since": since,
        "first_at": datetime.fromtimestamp(first, UTC),
        "last_slot": count - 1,
        "with_figures": figures,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        totals, top, slots, firsts = cursor.fetchone()
    slots = slots or []
    # Minutes: the most at once in each (those still there when it began count, unless an edge falls
    # on its very start), as figures.minutes() walks them.
    by_slot = {row[0]: row for row in slots}
    minutes = []
    carried = 0
    for index in range(count):
        row = by_slot.get(index)
        start = first + 60 * index
        if row is None:
            minutes.append(compute.Minute(start, carried, 0, 0))
            continue
        _, most, first_at, net, joins, leaves = row
        listeners = max(most, carried) if (index > 0 and float(first_at) > start) else most
        minutes.append(compute.Minute(start, int(listeners), int(joins), int(leaves)))
        carried += int(net)
    if not figures:
        return None, minutes
    peak, peak_at = (int(top[0]), float(top[1])) if top and top[0] > 0 else (0, None)
    totals = totals or {}
    unique = int(totals.get("unique") or 0)
    signed_in = int(totals.get("signed_in") or 0)
    result = compute.Figures(
        peak=peak,
        peak_at=peak_at,
        unique=unique,
        signed_in=signed_in,
        anonymous=unique - signed_in,
        listener_seconds=float(totals.get("seconds") or 0),
        median_seconds=float(totals.get("median") or 0),
        retention={
            m: int(n)
            for m, n in zip(compute.RETENTION_MINUTES, totals.get("retention") or [0] * 4, strict=True)
        },
        sources=_most_common([source for source, _ in firsts or []]),
        routes=_most_common([route for _, route in firsts or []]),
    )
    return result.as_dict(), minutes
