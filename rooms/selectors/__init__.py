"""Every non-trivial read about rooms. Views, consumers, other apps and the services call these.

One module per domain, as in rooms/services/; this package re-exports their public functions, so
callers write ``rooms.selectors.room_get_for_viewer`` whichever module holds it:

- ``discovery``: who may see which room, the home page, the header's live row, topics, search;
- ``stage``: the stored roster and the live snapshot of a room;
- ``reminders``: reminders, invitations, calendars;
- ``tickets``: who a ticketed room admits, a buyer's tickets, a host's sales.
"""

from .discovery import (
    LIVE_BAR_POPULAR_CACHE_SECONDS,
    POPULAR_TAGS_CACHE_SECONDS,
    UPCOMING_GRACE,
    HomeSections,
    LiveBar,
    LiveBarItem,
    home_sections,
    live_bar,
    live_rooms,
    room_get_for_host,
    room_get_for_viewer,
    rooms_for_topic,
    rooms_of_user,
    rooms_visible_to,
    search_rooms,
    tags_popular,
    upcoming_rooms,
)
from .reminders import (
    CALENDAR_PAST,
    calendar_rooms_of_host,
    has_reminder,
    invite_suggestions,
    may_invite,
    reminder_count,
    reminder_counts_of_host,
    room_for_calendar,
    room_invitees,
)
from .stage import (
    LISTENERS_SHOWN,
    RoomLiveView,
    room_listeners_event,
    room_live_state,
    room_live_view,
    room_roster,
)
from .tickets import (
    TicketSales,
    admitted_without_ticket,
    admitted_without_ticket_ids,
    ticket_buyers,
    ticket_get_for_buyer,
    ticket_is_valid,
    ticket_of,
    ticket_sales,
    ticketed_room_admits,
    ticketed_room_admitted_ids,
    tickets_of_buyer,
    valid_ticket_holder_ids,
)

__all__ = [
    "LIVE_BAR_POPULAR_CACHE_SECONDS",
    "POPULAR_TAGS_CACHE_SECONDS",
    "UPCOMING_GRACE",
    "HomeSections",
    "LiveBar",
    "LiveBarItem",
    "home_sections",
    "live_bar",
    "live_rooms",
    "room_get_for_host",
    "room_get_for_viewer",
    "rooms_for_topic",
    "rooms_of_user",
    "rooms_visible_to",
    "search_rooms",
    "tags_popular",
    "upcoming_rooms",
    "CALENDAR_PAST",
    "calendar_rooms_of_host",
    "has_reminder",
    "invite_suggestions",
    "may_invite",
    "reminder_count",
    "reminder_counts_of_host",
    "room_for_calendar",
    "room_invitees",
    "LISTENERS_SHOWN",
    "RoomLiveView",
    "room_listeners_event",
    "room_live_state",
    "room_live_view",
    "room_roster",
    "TicketSales",
    "admitted_without_ticket",
    "admitted_without_ticket_ids",
    "ticket_buyers",
    "ticket_get_for_buyer",
    "ticket_is_valid",
    "ticket_of",
    "ticket_sales",
    "ticketed_room_admits",
    "ticketed_room_admitted_ids",
    "tickets_of_buyer",
    "valid_ticket_holder_ids",
]
