import asyncio
import os
import signal
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rooms.audio.speech import EngineError, make_engine
from rooms.live.captions import CaptionerProcess, lower_priority


class Command(BaseCommand):
    help = (
        "Recognize speech in live rooms that have captions on, and send the caption lines. Run one or "
        "more beside the mixers: they share rooms through leases in Redis."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}")
        parser.add_argument("--max-rooms", type=int, default=50)
        parser.add_argument("--engine", default="", help="overrides the CAPTIONS_ENGINE setting")

    def handle(self, *args, name, max_rooms, engine, **options):
        if not settings.REDIS_URL:
            raise CommandError("run_captioner needs REDIS_URL; without Redis the web process starts its own.")
        engine_name = engine or settings.CAPTIONS_ENGINE
        try:
            recognizer = make_engine(engine_name, model_dir=settings.CAPTIONS_MODEL_DIR or None)
        except EngineError as error:
            raise CommandError(str(error)) from None
        lower_priority()
        self.stdout.write(f"captioner {name} running ({recognizer.label})")
        asyncio.run(self._run(name, max_rooms, recognizer))

    async def _run(self, name: str, max_rooms: int, recognizer) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await CaptionerProcess(settings.REDIS_URL, name=name, engine=recognizer, max_rooms=max_rooms).run(
            stop=stop
        )
