"""A plain aiokafka consumer on an idle topic, as its own process: the idle-CPU baseline.

``python -m bench.idle_consumer BOOTSTRAP TOPIC PARTITIONS``. It reads with aiokafka's
defaults and WITHOUT `stream/fetch_long_poll.py`: what any consumer costs on a broker that
answers empty fetches at once. Prints ``ready`` once assigned and positioned, then loops until
SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, TopicPartition


async def consume(bootstrap: str, topic: str, partitions: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        print("ready", flush=True)
        while not stop.is_set():
            await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1], sys.argv[2], int(sys.argv[3])))
