"""What the end-to-end recording tests share once the room has ended: waiting for its recording."""

import asyncio
import time

from channels.db import database_sync_to_async

from recordings.models import Recording


async def wait_until_ready(room, timeout: float = 90) -> Recording:
    """The room's recording once a worker has finalized it; fails at once if it failed (with its
    reason), or if it is not ready within `timeout` seconds (with its status)."""
    deadline = time.monotonic() + timeout
    while True:
        recording = await database_sync_to_async(Recording.objects.get)(room=room)
        if recording.status == Recording.Status.READY:
            return recording
        assert recording.status != Recording.Status.FAILED, recording.failure_reason
        assert time.monotonic() < deadline, f"still {recording.status}"
        await asyncio.sleep(0.5)
