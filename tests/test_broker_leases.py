"""The lease renewal that keeps a live worker's messages from being handed out again
(spaces_project/broker_leases.py), against kombu's real Redis transport."""

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Producer, Queue

from spaces_project.broker_leases import renew


@pytest.fixture
def channel():
    if not settings.REDIS_URL:
        pytest.skip("kombu's Redis transport needs Redis (REDIS_URL)")
    keys = {"unacked_key": "test-leases-unacked", "unacked_index_key": "test-leases-unacked-index"}
    with Connection(settings.REDIS_URL, transport_options=keys) as connection:
        channel = connection.channel()
        client = channel.client
        client.delete("test-leases", *keys.values())
        yield channel
        client.delete("test-leases", *keys.values())
        channel.close()


def test_renewing_moves_the_held_messages_lease_to_now_and_never_brings_back_an_acknowledged_one(channel):
    queue = Queue("test-leases", Exchange("test-leases"), "test-leases")
    for body in ("first", "second"):
        Producer(channel).publish(body, exchange=queue.exchange, routing_key="test-leases", declare=[queue])
    first, second = queue(channel).get(), queue(channel).get()  # held, not acknowledged
    client, index = channel.client, channel.unacked_index_key
    # Both taken an hour ago: a restore sweep would hand them out again.
    client.zadd(index, {first.delivery_tag: 1.0, second.delivery_tag: 1.0})
    first.ack()

    assert renew(channel) == 1  # the one still held
    assert client.zscore(index, second.delivery_tag) > 1.0
    assert client.zscore(index, first.delivery_tag) is None  # acknowledged: not put back
    # What the sweep then finds to restore, an hour's timeout or a second's: nothing.
    assert client.zrange(index, "-inf", client.time()[0] - 1, byscore=True) == []
    second.ack()
    assert renew(channel) == 0
