"""The room websocket: authenticate, keep presence, dispatch each message to a service.

The protocol (messages, events, close codes) is declared in spaces_project/protocol/ (docs/protocol.md);
how a message travels through here is in docs/architecture.md.
"""

import asyncio
import functools
import logging
import random
import secrets
import time
import uuid

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from spaces_project import metrics, protocol
from spaces_project.errors import ServiceError
from spaces_project.websocket import socket_language

from . import selectors, services
from .analytics import collect as analytics
from .audio import wire
from .background_route import BackgroundRoute
from .live import hls
from .live.bus import get_bus
from .live.hls_renewal import HlsRenewer
from .live.joins import get_join_batcher
from .live.keeper import RoomKeeper, broadcast_listeners, heartbeat_seconds
from .live.mixing import get_audio_uplink
from .live.presence import get_presence, identity_for
from .live.snapshots import get_room_views

logger = logging.getLogger(__name__)

# Messages a person may send per second on one socket (a burst of twice that is allowed).
MESSAGES_PER_SECOND = 20
# Audio frames a speaker may send per second: 50 is real time; the rest absorbs a network burst.
AUDIO_FRAMES_PER_SECOND = 50
AUDIO_BURST = 100


def anonymous_sockets_per_address() -> int:
    """Anonymous sockets one client address may hold open in one room (a family, an office); past
    this the visitor is asked to sign in (settings.ANONYMOUS_SOCKETS_PER_ADDRESS)."""
    return settings.ANONYMOUS_SOCKETS_PER_ADDRESS


def _user_actions() -> dict:
    """Message type -> the service that carries it out, called with (room_id, actor, fields)."""
    return {
        "hand.raise": lambda r, a, f: services.participant_raise_hand(room_id=r, actor=a),
        "hand.lower": lambda r, a, f: services.participant_lower_hand(room_id=r, actor=a),
        "request.approve": lambda r, a, f: services.speak_request_approve(room_id=r, actor=a, **f),
        "request.decline": lambda r, a, f: services.speak_request_decline(room_id=r, actor=a, **f),
        "speaker.invite": lambda r, a, f: services.speaker_invite(room_id=r, actor=a, **f),
        "invite.accept": lambda r, a, f: services.speaker_invite_accept(room_id=r, actor=a),
        "invite.decline": lambda r, a, f: services.speaker_invite_decline(room_id=r, actor=a),
        "mic.mute": lambda r, a, f: services.participant_set_muted(room_id=r, actor=a, muted=True),
        "mic.unmute": lambda r, a, f: services.participant_set_muted(room_id=r, actor=a, muted=False),
        "speaker.mute": lambda r, a, f: services.speaker_mute(room_id=r, actor=a, **f),
        "speakers.mute_all": lambda r, a, f: services.speakers_mute_all(room_id=r, actor=a),
        "speaker.to_audience": lambda r, a, f: services.speaker_move_to_audience(room_id=r, actor=a, **f),
        "participant.remove": lambda r, a, f: services.participant_remove(room_id=r, actor=a, **f),
        "cohost.add": lambda r, a, f: services.cohost_add(room_id=r, actor=a, **f),
        "cohost.remove": lambda r, a, f: services.cohost_remove(room_id=r, actor=a, **f),
        "room.speaker_policy": lambda r, a, f: services.room_set_speaker_policy(room_id=r, actor=a, **f),
        "reaction.send": lambda r, a, f: services.reaction_send(room_id=r, actor=a, **f),
        "link.pin": lambda r, a, f: services.link_pin(room_id=r, actor=a, **f),
        "link.unpin": lambda r, a, f: services.link_unpin(room_id=r, actor=a, **f),
        "captions.set": lambda r, a, f: services.room_set_captions(room_id=r, actor=a, **f),
        "room.end": lambda r, a, f: services.room_end_by_id(room_id=r, actor=a),
        "room.go_live": lambda r, a, f: services.room_start_by_id(room_id=r, actor=a),
        "question.ask": lambda r, a, f: services.question_ask(room_id=r, actor=a, **f),
        "question.withdraw": lambda r, a, f: services.question_withdraw(room_id=r, actor=a, **f),
        "question.vote": lambda r, a, f: services.question_vote(room_id=r, actor=a, **f),
        "question.unvote": lambda r, a, f: services.question_unvote(room_id=r, actor=a, **f),
        "question.answer": lambda r, a, f: services.question_answer(room_id=r, actor=a, **f),
        "question.done": lambda r, a, f: services.question_done(room_id=r, actor=a, **f),
        "question.dismiss": lambda r, a, f: services.question_dismiss(room_id=r, actor=a, **f),
        "question.remove": lambda r, a, f: services.question_remove(room_id=r, actor=a, **f),
        "question.invite": lambda r, a, f: services.question_invite_asker(room_id=r, actor=a, **f),
        "qa.set": lambda r, a, f: services.room_set_qa(room_id=r, actor=a, **f),
    }


USER_ACTIONS = _user_actions()
# Actions that move someone between the stage and the audience (or out of the room).
AUDIENCE_CHANGING = {
    "request.approve",
    "invite.accept",
    "speaker.to_audience",
    "participant.remove",
    "cohost.add",
    "cohost.remove",
}


class RoomConsumer(BackgroundRoute, AsyncWebsocketConsumer):
    room_id: int
    user_id: int | None = None
    joined = False
    on_stage = False
    knows_role = False  # on_stage comes from this person's entry in a snapshot or event
    muted = True
    # The room's backstage is open: only the stage hears the stage; the audience gets no audio.
    backstage = False
    invited = False
    # How this page hears the room (rooms/live/hls.py): decided at the first snapshot, then kept, except
    # that a listener invited to (or put on) the stage moves to websocket audio.
    audio_route: str | None = None
    route_changed = False
    # Where this socket is counted in the listeners metric (None: nowhere).
    metered_route: str | None = None
    # A private room's HLS (signed URLs): this socket's listener token, when the person last passed
    # the door's rule (time.monotonic()), and when their URL is renewed next (HlsRenewer).
    hls_private = False
    hls_listener = ""
    admitted_at = float("-inf")
    hls_renew_at = float("inf")
    # What this socket has registered, so that every way out undoes exactly that.
    attached = False
    present = False
    counted = False  # its session is in the room's analytics (rooms/analytics/)
    # A page of a scheduled room whose backstage is not open: on the bus to hear the room's status
    # change (room.status), not in the room (no presence, no roster, no audio, messages ignored).
    watching = False
    # Room sockets hear their rooms through the room bus, never through the channel layer; without
    # a channel layer subscription a Redis restart does not kill every socket (channels closes a
    # consumer whose layer read fails with 1011), and the bus tells the sockets to resync instead.
    channel_layer_alias = None

    async def __call__(self, scope, receive, send) -> None:
        # A consumer that dies from an exception never runs disconnect(): undo its registrations
        # on every way out, or the bus and the roster keep a socket that is gone.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.unregister()

    async def connect(self) -> None:
        self.room_id = int(self.scope["url_route"]["kwargs"]["room_id"])
        self.user = self.scope.get("user")
        self.user_id = self.user.pk if getattr(self.user, "is_authenticated", False) else None
        self.conn_id = uuid.uuid4().hex
        self.last_beat = time.monotonic()
        self.quiet_leave = False
        self.closing = False
        self.tokens = float(MESSAGES_PER_SECOND * 2)
        self.tokens_at = time.monotonic()
        self.audio_tokens = float(AUDIO_BURST)
        self.audio_tokens_at = time.monotonic()
        self.audio_dropped: dict[str, int] = {}
        # Bound into this socket's signed HLS URLs: opaque, and new for each connection.
        self.hls_listener = secrets.token_urlsafe(12)
        # Accept first so that a refusal reaches the page as a close code it can explain.
        await self.accept()
        try:
            if self.user_id is None:
                # Anonymous listeners, most of a big room, all arrive at once when a web process
                # restarts: they are checked against the room as read once for everyone's snapshot
                # (rooms/live/snapshots.py), not with a database read each.
                view = await get_room_views().view_for(
                    self.room_id, None, heartbeat_seconds=heartbeat_seconds()
                )
                services.participant_check_may_join(room=view.room, user=self.user)
            else:
                # Batched with the other signed-in people joining the room now (a reconnect storm).
                await get_join_batcher().join(self.room_id, self.user)
            self.admitted_at = time.monotonic()
        except ServiceError as error:
            if error.code == "not_live":
                await self.watch()
            else:
                await self.refuse(error)
            return
        client = self.scope.get("client") or ("", 0)
        self.presence_id = identity_for(self.user_id, client[0], self.conn_id)
        self.present = True
        change = await get_presence().add(self.room_id, self.conn_id, self.presence_id)
        if self.user_id is None and change.connections > anonymous_sockets_per_address():
            # One address opening socket after socket would inflate the audience the host sees.
            await self.unregister()
            await self.close(code=protocol.CLOSE_SIGN_IN_REQUIRED)
            return
        self.attached = True
        await get_bus().attach(self.room_id, self)
        self.joined = True
        RoomKeeper.ensure(self.room_id)
        get_audio_uplink().room_opened(self.room_id)
        await self.send_snapshot(people=change.people)
        self.counted = self.joined and not self.closing and analytics.note_join(self)
        self.schedule_listeners_broadcast()

    async def watch(self) -> None:
        """The room is not open: send its status; if it is still scheduled, stay on the bus to hear
        the next one (the page then reconnects to join). Whoever may not see the room is refused.

        Watching (events forwarded) before the status is read, so that a change in between is heard,
        not lost; the page takes whichever comes last."""
        read = database_sync_to_async(selectors.room_get_for_viewer)
        try:
            await read(room_id=self.room_id, viewer=self.user)
            self.attached = self.watching = True
            await get_bus().attach(self.room_id, self)
            room = await read(room_id=self.room_id, viewer=self.user)
        except ServiceError as error:
            self.watching = False
            await self.unregister()
            await self.refuse(error)
            return
        await self.send(text_data=protocol.StatusChanged(status=room.status).encode())
        if room.status != "scheduled":
            # Ended or cancelled (or its backstage opened this instant: the page reconnects to join).
            self.watching = False
            await self.unregister()
            await self.close(code=protocol.CLOSE_ENDED if room.status == "ended" else protocol.CLOSE_NOT_LIVE)

    async def disconnect(self, code: int) -> None:
        await self.unregister()

    async def unregister(self) -> None:
        """Leave the bus and the roster. Safe to call more than once, and when Redis is down."""
        self.joined = False
        self.meter_route()
        if self.counted:
            self.counted = False
            analytics.session_ended(room_id=self.room_id, session=self.conn_id)
        if self.attached:
            self.attached = False
            try:
                await get_bus().detach(self.room_id, self)
            except Exception:
                logger.warning("room %s: could not detach a socket from the bus", self.room_id, exc_info=True)
        if self.present:
            self.present = False
            try:
                change = await get_presence().remove(self.room_id, self.conn_id)
                if change is not None:
                    await self.person_changed(change.user_id, gone=change.person_changed)
            except Exception:
                # Redis is away: the connection's entry stops beating and the sweep removes it.
                logger.warning("room %s: could not take a socket off the roster", self.room_id)

    async def person_changed(self, user_id: int | None, *, gone: bool) -> None:
        """After a connection went away: announce a stage member who left, update the audience."""
        # Only a stage member's going is announced: a socket that knows its person is in the
        # audience asks the database nothing (a restarting process's hundreds of listeners queued
        # one query each on its one database thread before their sockets could close).
        may_be_on_stage = self.on_stage or not self.knows_role
        if gone and user_id is not None and not self.quiet_leave and may_be_on_stage:
            await database_sync_to_async(services.participant_disconnected)(
                room_id=self.room_id, user_id=user_id
            )
            # A reload: the person's new page may have joined (and been announced) while this leave
            # was on its way through the database thread; then announce them again, after it.
            if await get_presence().is_present(self.room_id, user_id):
                await database_sync_to_async(services.participant_reannounce)(
                    room_id=self.room_id, user_id=user_id
                )
        self.schedule_listeners_broadcast()

    async def dispatch(self, message: dict) -> None:
        # channels' dispatch first hops to the database thread to close stale connections, for
        # every frame. Here every database call goes through database_sync_to_async, which does
        # that itself, and the hop for each heartbeat of a thousand sockets queued behind real
        # queries on that one thread (bench/room_events.py).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        # Refusals this socket sends are written in its page's language (docs/i18n.md).
        with translation.override(self.language):
            await handler(message)

    @functools.cached_property
    def language(self) -> str:
        """The page's language as LocaleMiddleware chose it: the language cookie, then Accept-Language."""
        return socket_language(self.scope)

    # -- frames from the browser ------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        if bytes_data is not None:
            await self.receive_audio(bytes_data)
            return
        ref = None
        try:
            if not self.take_token():
                raise ServiceError("rate_limited", _("Too many messages; slow down."))
            kind, fields, ref = protocol.parse_message(text_data or "")
            await self.handle(kind, fields)
        except (ServiceError, protocol.ProtocolError) as error:
            await self.refuse(error, getattr(error, "ref", None) or ref)

    async def refuse(self, error: ServiceError | protocol.ProtocolError, ref: str | None = None) -> None:
        """The one translation of a refusal on a socket: before the person has joined, a close code
        the page explains (spaces_project/protocol/); after, an error frame about the message refused."""
        if not self.joined:
            await self.close(code=protocol.close_code_for(error.code))
            return
        await self.send(text_data=protocol.Error(code=error.code, message=error.message, ref=ref).encode())

    async def handle(self, kind: str, fields: dict) -> None:
        if kind == "heartbeat":
            # Only noted here: the room's keeper refreshes presence for all of this process's
            # sockets in one Redis call per interval, not one per beat.
            self.last_beat = time.monotonic()
            return
        if kind == "snapshot.request":
            await self.send_snapshot()
            return
        if kind == "audio.background":
            return await self.set_background(on=fields["on"])
        if kind == "leave":
            if self.user_id is not None:
                await database_sync_to_async(services.participant_leave)(
                    room_id=self.room_id, user=self.user, quiet=fields["quiet"]
                )
            self.quiet_leave = True  # announced (or not) by the service already
            await self.close(code=1000)
            return
        if self.user_id is None and protocol.MESSAGES[kind].needs_user:
            raise ServiceError("sign_in_required", _("Sign in to do that."))
        await database_sync_to_async(USER_ACTIONS[kind])(self.room_id, self.user, fields)
        if kind in AUDIENCE_CHANGING:
            self.schedule_listeners_broadcast()

    async def receive_audio(self, data: bytes) -> None:
        """Forward a speaker's frame to the mixer; drop (and count) everything else, silently.

        The mixer checks again against the stage it knows, so a frame that slips through in the
        instant of a mute is still not heard.
        """
        if self.user_id is None or not self.on_stage or self.muted:
            self.drop_audio("not_allowed")
            return
        now = time.monotonic()
        self.audio_tokens = min(
            AUDIO_BURST, self.audio_tokens + (now - self.audio_tokens_at) * AUDIO_FRAMES_PER_SECOND
        )
        self.audio_tokens_at = now
        if self.audio_tokens < 1:
            self.drop_audio("rate")
            return
        self.audio_tokens -= 1
        try:
            wire.decode_uplink(data)
        except wire.WireError:
            self.drop_audio("malformed")
            return
        await get_audio_uplink().send(self.room_id, wire.tag(self.user_id, data))

    def drop_audio(self, reason: str) -> None:
        self.audio_dropped[reason] = self.audio_dropped.get(reason, 0) + 1
        metrics.AUDIO_UPLINK_DROPPED.labels(reason=reason).inc()

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(MESSAGES_PER_SECOND * 2, self.tokens + (now - self.tokens_at) * MESSAGES_PER_SECOND)
        self.tokens_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    # -- frames to the browser -----------------------------------------------------------------

    async def send_snapshot(self, *, people: int | None = None) -> None:
        """Send this socket its room snapshot. `people`: the room's people count, if just read (the
        presence add of a join reads it), for the first snapshot's choice of audio route."""
        # Shared with the other sockets of the room asking now (a reconnect storm): one read.
        view = await get_room_views().view_for(
            self.room_id, self.user_id, heartbeat_seconds=heartbeat_seconds()
        )
        snapshot = view.for_viewer(self.user_id)
        self.backstage = snapshot.room["backstage"]
        if snapshot.room["state"] != "live" and not self.backstage:
            # The room ended while this socket missed the event (Redis was away when it went out):
            # close it the way the event would have.
            self.closing = True
            ended = snapshot.room["state"] == "ended"
            await self.close(code=protocol.CLOSE_ENDED if ended else protocol.CLOSE_NOT_LIVE)
            return
        if snapshot.you is not None:
            self.track_self(snapshot.you)
        if self.audio_route is None:
            if people is None:
                people = await get_presence().people_count(self.room_id)
            self.audio_route = hls.listener_route(
                on_stage=self.on_stage,
                invited=self.invited,
                large_audience=view.room.large_audience,
                listeners_now=people - len(snapshot.stage),
                websocket_listeners=settings.AUDIO_WEBSOCKET_LISTENERS,
            )
            if self.audio_route == hls.HLS:
                # The room's mixer starts writing HLS when it sees this (its next stage reload).
                await get_presence().flag(hls.hls_flag(self.room_id))
        self.route_changed = False
        self.meter_route()
        await self.send(text_data=view.encode_for(self.user_id))
        await self.send_route(view.room)

    async def send_route(self, room=None) -> None:
        """Tell the page how it hears the room (a fresh signed URL each time, for private rooms).
        Only a snapshot (which has the room) sends "hls"; a change after it is always to "websocket"."""
        if self.audio_route == hls.HLS and room is not None:
            self.hls_private = hls.is_private(room)
            if self.hls_private and not await self.still_admitted():
                return
            event = protocol.AudioRoute(
                mode=hls.HLS, playlist=hls.playlist_url(room, listener=self.hls_listener)
            )
            if self.hls_private:
                self.schedule_hls_renewal()
        else:
            event = protocol.AudioRoute(mode=hls.WEBSOCKET)
        await self.send(text_data=event.encode())

    # -- a private room's HLS: signed URLs that live 90 s, renewed while the person may stay ---------

    @property
    def renews_hls(self) -> bool:
        return self.joined and not self.closing and self.hls_private and self.audio_route == hls.HLS

    async def still_admitted(self) -> bool:
        """Whether the door's rule let this person in at most a renewal period ago, asking it again
        when that was longer ago (a page asking for a snapshot after its URL expired). If it now
        refuses them, the socket closes as the door would have refused it."""
        if time.monotonic() - self.admitted_at <= hls.renewal_seconds():
            return True
        checked_at = time.monotonic()
        if self.user_id is None:
            refusal = ServiceError("sign_in_required", _("Sign in to listen to this room."))
        else:
            refusals = await database_sync_to_async(services.participants_join_refusals)(
                room_id=self.room_id, user_ids=[self.user_id]
            )
            refusal = refusals.get(self.user_id)
        if refusal is not None:
            await self.close_refused(refusal)
            return False
        self.admitted_at = checked_at
        return True

    def schedule_hls_renewal(self) -> None:
        # Somewhere in the last quarter of the period: sockets that joined together (a web process
        # restarting) spread their renewals out instead of asking the database all at once for ever.
        self.hls_renew_at = time.monotonic() + hls.renewal_seconds() * random.uniform(0.75, 1.0)
        HlsRenewer.ensure(self.room_id)

    async def renew_hls(self, checked_at: float) -> None:
        """Send a fresh URL; the door's rule let the person in at `checked_at` (HlsRenewer)."""
        self.admitted_at = checked_at
        playlist, expires = hls.signed_playlist_url(self.room_id, listener=self.hls_listener)
        self.schedule_hls_renewal()
        await self.send(text_data=protocol.HlsUrl(playlist=playlist, expires=expires).encode())

    async def close_refused(self, refusal: ServiceError) -> None:
        """The door's rule refuses this person now (a refund, a block, a removal whose event this
        socket missed): no more URLs, and the socket closes with the code a new connection would get."""
        logger.info(
            "room %s: user %s may not stay (%s): no more HLS URLs", self.room_id, self.user_id, refusal.code
        )
        await self.close_from_bus(protocol.close_code_for(refusal.code))

    def track_self(self, participant: protocol.ParticipantInfo) -> None:
        self.knows_role = True
        self.on_stage = protocol.is_on_stage(participant["role"])
        self.muted = participant["muted"]
        self.invited = participant["invited"]
        if self.audio_route == hls.HLS and (self.on_stage or self.invited):
            # Before the stage: a speaker must hear the room as it is, not seconds late.
            self.audio_route = hls.WEBSOCKET
            self.route_changed = True
        self.meter_route()

    def meter_route(self) -> None:
        """Keep this socket counted under how it hears the room now (docs/metrics.md): the stage,
        or a listener over the websocket or HLS; a socket that left is counted nowhere."""
        route = None
        if self.joined and not self.closing and self.audio_route is not None:
            route = "stage" if self.on_stage else self.audio_route
        if route != self.metered_route:
            if self.metered_route is not None:
                metrics.LISTENERS.labels(route=self.metered_route).dec()
            if route is not None:
                metrics.LISTENERS.labels(route=route).inc()
            self.metered_route = route

    def track_event(self, event: dict) -> None:
        """Follow this person's own role and mute, which decide whether their audio is forwarded."""
        kind = event.get("type")
        if kind == protocol.ParticipantUpdated.TYPE:
            if event["participant"]["user_id"] == self.user_id:
                self.track_self(event["participant"])
        elif kind == protocol.WentLive.TYPE:
            self.backstage = False
        elif kind == protocol.Batch.TYPE:
            for inner in event["events"]:
                self.track_event(inner)

    # Called by the room bus.
    @property
    def audio_receiver(self) -> int | None:
        if not self.joined or self.closing:
            return None
        if self.on_stage:
            return self.user_id
        if self.backstage:
            return None  # backstage, the audience hears nothing (the mixer sends no program mix either)
        # Nothing until the first snapshot decided how this page listens (an HLS listener's page
        # must not get a websocket bundle first).
        return wire.PROGRAM if self.audio_route == hls.WEBSOCKET else None

    async def send_event(self, text: str, event: dict) -> None:
        if self.watching:
            # A page watching the schedule hears only where the room is in its life.
            for status in _status_events(event):
                await self.send(text_data=protocol.encode(status))
            return
        if self.joined and not self.closing:
            self.track_event(event)  # anonymous listeners too: room.went_live ends their backstage
            if self.route_changed:
                self.route_changed = False
                await self.send_route()
            await self.send(text_data=text)

    async def send_audio(self, bundle: bytes) -> None:
        await self.send(bytes_data=bundle)

    async def close_from_bus(self, code: int) -> None:
        if self.joined and not self.closing:
            self.closing = True
            self.quiet_leave = code == protocol.CLOSE_REMOVED or code == protocol.CLOSE_NOT_FOUND
            await self.close(code=code)

    # -- presence ------------------------------------------------------------------------------

    def schedule_listeners_broadcast(self) -> None:
        asyncio.get_running_loop().create_task(broadcast_listeners(self.room_id))


def _status_events(event: dict) -> list[dict]:
    """The room.status events in `event` (itself, or inside a batch)."""
    if event.get("type") == protocol.StatusChanged.TYPE:
        return [event]
    if event.get("type") == protocol.Batch.TYPE:
        return [inner for inner in event["events"] if inner.get("type") == protocol.StatusChanged.TYPE]
    return []
