"""Development tools: the local Kafka broker launcher and the benchmark.

    broker/   `feedback broker ...`: a real single-node Kafka (KRaft) without Docker
    bench/    `feedback bench`: throughput, latency, scaling and memory of the worker
    net.py    ports of 127.0.0.1: a free one, a free given one, one that accepts TCP

They sit beside the runtime package `stream` (which they use and which never imports them):
a pip install from a clone has them, the worker image leaves them out.
"""
