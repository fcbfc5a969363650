"""Hosts' analytics (docs/analytics.md): who listened to a room, for how long, from where.

`collect` takes presence's joins and leaves (and the room's reactions, hands and talk time) off the
live path into a per-process buffer; `services.analytics_flush` writes them in batches, idempotently,
and rolls them up per minute; `selectors` reads a room's and a host's figures; `figures` computes
them (no Django); `charts` draws them as SVG (no Django). The models live in `models` and are
re-exported by rooms.models.
"""
