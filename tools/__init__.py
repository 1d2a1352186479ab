"""Tooling of the tests and the benchmarks, kept out of the wheel (MANIFEST.in ships it in the
sdist): ``tools.seedenv`` provisions the old events-protocol 0.2.4 in a venv of its own,
``tools.loadgen`` is the aiohttp load generator. Nothing in ``fastevents/`` imports them."""
