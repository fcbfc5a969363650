import asyncio
import os
import signal
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rooms.live.mixing import MixerProcess
from spaces_project import media


class Command(BaseCommand):
    help = "Mix the audio of live rooms. Run several: they share rooms through leases in Redis."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}")
        parser.add_argument("--max-rooms", type=int, default=200)
        parser.add_argument(
            "--max-following",
            type=int,
            default=None,
            help="rooms of other mixers to follow as their warm standby (default: --max-rooms; 0: none)",
        )

    def handle(self, *args, name, max_rooms, max_following, **options):
        if not settings.REDIS_URL:
            raise CommandError("run_mixer needs REDIS_URL; without Redis the web process mixes rooms itself.")
        # With media in object storage, build the store's client before taking rooms: building it
        # holds the GIL longer than a room's lease lives (spaces_project/media.py).
        media.warm_up()
        self.stdout.write(f"mixer {name} running")
        asyncio.run(self._run(name, max_rooms, max_following))

    async def _run(self, name: str, max_rooms: int, max_following: int | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        mixer = MixerProcess(settings.REDIS_URL, name=name, max_rooms=max_rooms, max_following=max_following)
        await mixer.run(stop=stop)
