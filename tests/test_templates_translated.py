"""Every text a person reads in templates/ is marked for translation (docs/i18n.md).

Each template is read with Django's own lexer: text inside {% translate %} and {% blocktranslate %}
is marked, template variables and tags are not text; what is left is read as HTML, and any text node
or readable attribute (alt, title, placeholder, aria-label, ...) with a letter in it, outside <script>
and <style>, must be on the small allow-list below, with its reason.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType
from django.utils.text import smart_split

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HOLE = "\x00"  # where a variable or a marked string was

# Text that is the same in every language, each with its reason.
ALLOWED = {
    "Spaces",  # the product's name
    "Twemoji",  # the emoji set's name, in its credit
    "CC",  # CC-BY, the licence's name, in the emoji credit
    "BY",
    "UTC",  # the time standard's name
    "RSS",  # the feed format's name
    "CSV",  # the file format's name
    "iCal",  # the calendar format's name
}
# Not HTML: a template of the service worker's script.
SKIPPED = {"pwa/sw.js"}
READABLE_ATTRIBUTES = {
    "alt",
    "title",
    "placeholder",
    "aria-label",
    "aria-description",
    "aria-roledescription",
    "aria-valuetext",
    "label",
    "data-confirm",
    "data-copy-done",  # said by static/js/copy-link.js
}
LETTERS = re.compile(r"[^\W\d_]{2,}")


def sentence_literals(contents: str) -> list[str]:
    """The plain string literals of a tag's name="value" arguments that hold a space (prose)."""
    found = []
    for bit in smart_split(contents):
        _name, _, value = bit.partition("=")
        if value[:1] in ('"', "'") and " " in value:
            found.append(value[1:-1])
    return found


def unmarked_source(source: str) -> str:
    """The template with marked text, variables and tags taken out (a variable leaves a HOLE)."""
    out: list[str] = []
    depth = 0  # inside {% blocktranslate %} or {% comment %}
    for token in Lexer(source).tokenize():
        word = token.contents.split()[0] if token.contents.split() else ""
        if token.token_type == TokenType.BLOCK:
            if word in ("blocktranslate", "blocktrans", "comment"):
                depth += 1
            elif word in ("endblocktranslate", "endblocktrans", "endcomment"):
                depth -= 1
            elif word in ("translate", "trans"):
                out.append(HOLE)
            elif word in ("include", "with") and not depth:
                # A sentence handed to an included template as a plain literal (label="Some pages")
                # is unmarked; _("Some pages") is marked.
                out.extend(f"<p>{text}</p>" for text in sentence_literals(token.contents))
            else:
                out.append("")
        elif token.token_type == TokenType.VAR:
            out.append(HOLE)
        elif token.token_type == TokenType.TEXT and not depth:
            out.append(token.contents)
    return "".join(out)


class TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs) -> None:
        # Code, not prose: scripts, styles, and a read-only box holding code to copy (an embed).
        if tag in ("script", "style") or (tag == "textarea" and "readonly" in dict(attrs)):
            self.skipping += 1
        for name, value in attrs:
            if name in READABLE_ATTRIBUTES and value:
                self.check(value)
            if tag == "input" and name == "value" and dict(attrs).get("type") in ("submit", "button"):
                self.check(value or "")

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style", "textarea") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data) -> None:
        if not self.skipping:
            self.check(data)

    def check(self, text: str) -> None:
        words = [word for word in LETTERS.findall(text.replace(HOLE, " ")) if word not in ALLOWED]
        if words:
            self.found.append(" ".join(text.replace(HOLE, "…").split()))


def unmarked_texts(source: str) -> list[str]:
    finder = TextFinder()
    finder.feed(unmarked_source(source))
    finder.close()
    return finder.found


def template_names() -> list[str]:
    return sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*")
        if path.is_file() and str(path.relative_to(TEMPLATES)) not in SKIPPED
    )


@pytest.mark.parametrize("name", template_names())
def test_template_text_is_marked_for_translation(name):
    found = unmarked_texts((TEMPLATES / name).read_text())
    assert not found, f"templates/{name}: text not marked for translation (docs/i18n.md): {found}"


def test_the_check_finds_unmarked_text():
    assert unmarked_texts('<p>Hello <b>{{ name }}</b></p><img alt="A picture">') == ["Hello", "A picture"]
    assert unmarked_texts('{% load i18n %}<p>{% translate "Hello" %} {{ name }}</p>') == []
    assert unmarked_texts("<p>{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}</p>") == []
    assert unmarked_texts("<script>const a = 'text';</script><style>p { color: red }</style>") == []
    assert unmarked_texts("<p>Spaces · 12:30 — {{ n }} %</p>") == []
    assert unmarked_texts('{% include "x.html" with label="Some pages" src="home" %}') == ["Some pages"]
    assert unmarked_texts('{% include "x.html" with label=_("Some pages") src="home" %}') == []
