"""The Spanish catalogues are complete, and hold every string the code marks (docs/i18n.md).

CI runs these with `make test`: a new string marked for translation without its Spanish, or a
translation left fuzzy or empty, fails the build.
"""

import shutil

import polib
import pytest
from django.test import override_settings

from spaces_project import compile_messages

CATALOGUES = compile_messages.LOCALE_DIR / "es" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")


def msgids(po: polib.POFile) -> set[tuple[str, str, str]]:
    return {(entry.msgctxt or "", entry.msgid, entry.msgid_plural) for entry in po if not entry.obsolete}


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_spanish_catalogue_has_no_untranslated_or_fuzzy_entry(domain):
    po = polib.pofile(str(CATALOGUES / f"{domain}.po"))
    assert not po.metadata_is_fuzzy, f"{domain}.po: its header is marked fuzzy"
    assert po.metadata.get("Language") == "es"
    assert "plural=" in po.metadata.get("Plural-Forms", "")
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    assert not fuzzy, f"{domain}.po: fuzzy entries: {fuzzy}"
    assert not untranslated, f"{domain}.po: untranslated entries: {untranslated}"
    # A plural entry needs every form.
    assert all(all(entry.msgstr_plural.values()) for entry in po if entry.msgid_plural and not entry.obsolete)


def test_makemessages_would_add_and_drop_no_msgid(tmp_path):
    """Django's makemessages, run as `make messages` runs it, into a copy of the catalogues: the same
    msgids come out, so nothing marked in the code is missing from the committed catalogues."""
    assert shutil.which("xgettext"), "makemessages needs GNU gettext (apt-get install gettext; .ci/run does)"
    # The repository's sources, linked into a directory whose own locale/ is the copy: makemessages
    # writes to the nearest locale/ above each file, so run from the repository it would rewrite the
    # committed catalogues (and leave the copy as it was, making this test unable to fail).
    tree = tmp_path / "tree"
    tree.mkdir()
    for entry in compile_messages.ROOT.iterdir():
        if entry.name not in {"locale", ".git", ".venv"}:
            (tree / entry.name).symlink_to(entry)
    copy = tree / "locale"
    shutil.copytree(compile_messages.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    committed_before = {path: path.read_bytes() for path in CATALOGUES.glob("*.po")}
    with override_settings(LOCALE_PATHS=[copy]):
        compile_messages.extract(root=tree, ignore_extra=("locale",))
    assert {path: path.read_bytes() for path in CATALOGUES.glob("*.po")} == committed_before, (
        "makemessages rewrote the committed catalogues"
    )
    for domain in DOMAINS:
        committed = msgids(polib.pofile(str(CATALOGUES / f"{domain}.po")))
        made = msgids(polib.pofile(str(copy / "es" / "LC_MESSAGES" / f"{domain}.po")))
        assert not made - committed, (
            f"{domain}: marked but not in the catalogue (make messages): {made - committed}"
        )
        assert not committed - made, (
            f"{domain}: in the catalogue but no longer marked (make messages): {committed - made}"
        )
