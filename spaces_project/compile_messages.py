"""Compile the committed translations (locale/*/LC_MESSAGES/*.po) into the .mo files Django reads.

Part of the install (`make run`, `make test`: the Makefile's MO_FILES), so .mo files are never
committed. GNU gettext's msgfmt when the machine has it (what Django's compilemessages runs); without
it, polib (pure Python, requirements.txt), so a fresh machine needs no root to run the site.

    python -m spaces_project.compile_messages [file.po ...]   (no file: every catalogue)
    python -m spaces_project.compile_messages --extract        (`make messages`: makemessages first)

`--extract` runs Django's makemessages (GNU gettext's xgettext) for every language under locale/,
the django domain (Python and templates) and the djangojs domain (static/js/), with the options
tests/test_translations.py uses to check that no marked string is missing from the catalogues.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
# What makemessages reads: the apps, spaces_project and templates/ (django), static/js/ (djangojs).
IGNORE = ["tests/*", "bench/*", "deploy/*", "docs/*", "staticfiles/*", "media/*", "hls/*", "test-artifacts/*"]
DOMAINS = {
    "django": {"extensions": ["html", "txt", "py"], "ignore": IGNORE},
    # templates/pwa/sw.js is a template (its strings are the push's fallbacks, none a person reads).
    "djangojs": {"extensions": ["js"], "ignore": [*IGNORE, "templates/*"]},
}


def catalogues() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_catalogue(po: Path) -> Path:
    """Write `po`'s .mo beside it; fuzzy entries are left out, as msgfmt leaves them out."""
    mo = po.with_suffix(".mo")
    msgfmt = shutil.which("msgfmt")
    if msgfmt:
        subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)
    else:
        polib.pofile(str(po)).save_as_mofile(str(mo))
    return mo


def compile_stale() -> list[Path]:
    """Compile the catalogues whose .mo is missing or older than the .po (tests call this)."""
    done = []
    for po in catalogues():
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            done.append(compile_catalogue(po))
    return done


def languages() -> list[str]:
    return sorted(path.name for path in LOCALE_DIR.iterdir() if (path / "LC_MESSAGES").is_dir())


def extract(*, root: Path = ROOT, ignore_extra: tuple[str, ...] = ()) -> None:
    """Django's makemessages for every language and domain, from `root` (needs Django set up, and
    LOCALE_PATHS naming where the catalogues go).

    makemessages writes each file's strings to the catalogues of the nearest `locale/` above it,
    whatever LOCALE_PATHS says: a `root` other than the repository's is a directory of symbolic links
    to its sources beside a `locale/` of its own (the test's copy), and they are followed."""
    from django.core.management import call_command  # noqa: PLC0415 — only --extract needs Django

    here = Path.cwd()
    os.chdir(root)
    try:
        for domain, options in DOMAINS.items():
            call_command(
                "makemessages",
                locale=languages(),
                domain=domain,
                extensions=options["extensions"],
                ignore_patterns=[*options["ignore"], *ignore_extra],
                no_obsolete=True,
                no_location=True,
                symlinks=root != ROOT,
                verbosity=0,
            )
    finally:
        os.chdir(here)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--extract"]:
        import django  # noqa: PLC0415 — only --extract needs Django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")
        django.setup()
        extract()
        argv = argv[1:]
    for po in [Path(arg) for arg in argv] or catalogues():
        compile_catalogue(po)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
