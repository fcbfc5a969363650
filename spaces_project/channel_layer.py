"""channels-redis's layer, whose consumers wait for Redis instead of dying with it.

channels-redis reads every consumer's messages of a process through one blocking pop; when Redis
goes away (a restart, a Sentinel failover) that read raises, and the error reaches every consumer
waiting on the layer: each dies and its socket closes with 1011, all at once, to be reconnected by
its page (docs/production.md). Here the read waits instead, trying Redis every 0.1 s doubling to 1 s,
until it (or the new master) answers; the sockets stay open.

What was sent to them meanwhile is lost, so once the read works again every consumer waiting on the
layer gets a ``channel_layer.reconnected`` message: a consumer handles it by re-joining its groups
(the new master may lack a membership written just before the failover) and sending its page the state
again (``UserConsumer``). A consumer without that handler fails as it did before, loudly.
"""

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError, TimeoutError

from spaces_project import protocol

logger = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 1.0
RECONNECTED = protocol.layer_reconnected_envelope()


class ResilientRedisChannelLayer(RedisChannelLayer):
    async def receive_single(self, channel):
        try:
            return await super().receive_single(channel)
        except (ConnectionError, TimeoutError) as error:
            logger.warning("channel layer lost Redis (%s); waiting for it", error)
        loop = asyncio.get_running_loop()
        lost_at, delay = loop.time(), RETRY_FIRST_S
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            try:
                await self.connection(self.consistent_hash(channel)).ping()
                break
            except (ConnectionError, TimeoutError):
                continue
        logger.warning("channel layer has Redis again after %.1f s", loop.time() - lost_at)
        if "!" not in channel:
            return channel, dict(RECONNECTED)
        # The process's channel: `receive` queues the message for every consumer waiting on the layer
        # (the one whose read this was among them), and the next read is a plain one again.
        return list(self.receive_buffer), dict(RECONNECTED)
