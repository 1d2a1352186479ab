"""fastevents' benchmarks: ``python -m benchmarks`` compares it with its alternatives.

Scenario modules (``suite_*.py``) each time one family of scenarios; ``run.py`` runs them,
``report.py`` renders the table, the chart and ``BENCHMARKS.md``. ``scenarios.py``,
``harness.py`` and ``seed_worker.py`` also run in the events-protocol 0.2.4 venv, so they
use the standard library only.
"""
