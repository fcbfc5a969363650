"""A host's podcast feed: RSS 2.0 with Apple's iTunes podcast tags. No Django here: the view gathers
the episodes (absolute URLs, sizes) and this writes the XML, escaping everything through ElementTree.

Tags follow Apple Podcasts' "RSS feed requirements": channel title, link, description, language,
itunes:author, itunes:image, itunes:explicit, itunes:category, itunes:type, itunes:owner; per item
title, enclosure (absolute URL, length in bytes, type), guid, pubDate, itunes:duration (seconds),
itunes:summary and description (the show notes), itunes:episodeType, itunes:explicit, itunes:image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from xml.etree import ElementTree as ET

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
# Live conversations fit Apple's "Society & Culture" best; one category for every host's feed.
CATEGORY = "Society & Culture"

ET.register_namespace("itunes", ITUNES)
ET.register_namespace("atom", ATOM)
ET.register_namespace("content", CONTENT)


@dataclass
class Episode:
    guid: str
    title: str
    link: str
    published: datetime
    audio_url: str
    audio_bytes: int
    duration_s: int
    notes: str
    image_url: str


@dataclass
class Channel:
    title: str
    link: str
    feed_url: str
    author: str
    description: str
    image_url: str
    language: str = "en"
    episodes: list[Episode] = field(default_factory=list)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _itunes(name: str) -> str:
    return f"{{{ITUNES}}}{name}"


def duration_label(seconds: int) -> str:
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def build_feed(channel: Channel) -> bytes:
    """The feed as UTF-8 XML bytes."""
    rss = ET.Element("rss", {"version": "2.0"})
    ch = _sub(rss, "channel")
    _sub(ch, "title", channel.title)
    _sub(ch, "link", channel.link)
    _sub(ch, f"{{{ATOM}}}link", href=channel.feed_url, rel="self", type="application/rss+xml")
    _sub(ch, "description", channel.description)
    _sub(ch, "language", channel.language)
    _sub(ch, "generator", "Spaces")
    if channel.episodes:
        _sub(ch, "lastBuildDate", format_datetime(max(e.published for e in channel.episodes)))
    image = _sub(ch, "image")
    _sub(image, "url", channel.image_url)
    _sub(image, "title", channel.title)
    _sub(image, "link", channel.link)
    _sub(ch, _itunes("author"), channel.author)
    _sub(ch, _itunes("summary"), channel.description)
    _sub(ch, _itunes("image"), href=channel.image_url)
    _sub(ch, _itunes("explicit"), "false")
    _sub(ch, _itunes("category"), text=CATEGORY)
    _sub(ch, _itunes("type"), "episodic")
    owner = _sub(ch, _itunes("owner"))
    _sub(owner, _itunes("name"), channel.author)
    for episode in channel.episodes:
        item = _sub(ch, "item")
        _sub(item, "title", episode.title)
        _sub(item, _itunes("title"), episode.title)
        _sub(item, "link", episode.link)
        _sub(item, "guid", episode.guid, isPermaLink="false")
        _sub(item, "pubDate", format_datetime(episode.published))
        _sub(item, "description", episode.notes)
        _sub(item, f"{{{CONTENT}}}encoded", _notes_html(episode.notes))
        _sub(item, _itunes("summary"), episode.notes)
        _sub(item, "enclosure", url=episode.audio_url, length=str(episode.audio_bytes), type="audio/mp4")
        _sub(item, _itunes("duration"), duration_label(episode.duration_s))
        _sub(item, _itunes("image"), href=episode.image_url)
        _sub(item, _itunes("author"), channel.author)
        _sub(item, _itunes("explicit"), "false")
        _sub(item, _itunes("episodeType"), "full")
    ET.indent(rss)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + ET.tostring(rss, encoding="utf-8", xml_declaration=False)
        + b"\n"
    )


def _notes_html(notes: str) -> str:
    """The show notes as simple HTML paragraphs (apps render content:encoded; the text is escaped)."""
    paragraphs = [p for p in notes.split("\n\n") if p.strip()]
    return "".join("<p>" + escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
