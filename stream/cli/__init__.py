"""The `feedback` command: the user's one door.

One module per command group declares its commands (`register(commands)`, each parser
with `set_defaults(handler=...)`); a handler parses nothing, calls a library function and
prints. Heavy imports (torch, spaCy, Faust) happen inside the handlers, so that
`feedback --help` and `feedback broker status` stay fast. `main.py` is the one place that
reads the settings, sets up logging (LOG_LEVEL, LOG_FORMAT) and turns a user's mistake
(`UserError`, a bad setting) into one line `error: ...` on stderr and exit code 2.
Handlers check what they can (files, ports, model versions) before Kafka and the model.

    demo.py      feedback demo             worker.py    feedback worker
    enrich.py    feedback enrich           trainer.py   feedback trainer
    labels.py    feedback labels import    config.py    feedback config
    broker.py    feedback broker ...       models.py    feedback train|evaluate|models ...
    bench.py     feedback bench            common.py    what the modules share
"""

from stream.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
