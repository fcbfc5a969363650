#!/usr/bin/env python
import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")
    if sys.argv[1:2] == ["run_captioner"]:
        # Before numpy is imported: OpenBLAS starts a thread per core, which spin between the calls of
        # the captioner's one recognizer thread (its CPU per speaker was 11 % with them, 7 % without,
        # bench/captions.py). rooms/live/captions.py starts the web process's own captioner so too.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
