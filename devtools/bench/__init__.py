"""`feedback bench`: throughput, latency, scaling and memory of the worker, in one run.

    run.py       the order of the phases, the configuration (full and `--quick`)
    messages.py  the benchmark's own feedback messages (5 to 60 words)
    limit.py     the NLP pipeline alone, in memory: the ceiling for one worker
    e2e.py       producer -> Kafka -> worker processes -> output topic -> consumer
    baseline.py  the per-message Faust worker the batched one is compared with
    report.py    the JSON summary, the table, the goals, the recommended settings, the PNG
    cpu.py       CPU time and peak RSS of processes, busy time of the machine (/proc)

Each ratio is also given in CPU time per message (`*_cpu` keys), which other load on a
shared machine skews far less than wall-clock throughput; every measurement says how
many CPUs other processes kept busy meanwhile (`others_cpu_cores`).
"""
