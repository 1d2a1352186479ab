"""Scenario module: envelope decode, full dispatch, payload sizes and router sizes.

Every in-process implementation is timed side by side in this one process, interleaved
(see ``harness.interleaved``); events-protocol 0.2.4 is timed by ``seed_worker.py`` in its
own venv on the same bodies, with the same rounds and round length. Before timing, each
in-process implementation's answer is checked against the protocol's
(``scenarios.compare_answer``); a wrong one stops the run (:class:`scenarios.WrongAnswer`).
events-protocol 0.2.4's answers are checked too, but its known differences are reported
(marked † in the tables), not fatal: they are what the comparison is about.
"""

from __future__ import annotations

import gc
from typing import Any

from . import harness, implementations, scenarios
from .context import RunContext

NAME = "dispatch"
TITLE = "In-process dispatch"


def unavailable() -> str | None:
    """Why this module cannot run here, or ``None``."""
    return None


def answer_verdict(scenario: scenarios.Scenario, function: Any) -> str:
    """``"ok"`` when ``function(scenario.body)`` gives the protocol's answer, else what differs.

    An ``envelope`` reader must return the envelope (an object whose ``name`` is the request's).
    """
    answer = function(scenario.body)
    if scenario.group == "envelope":
        name = getattr(answer, "name", None)
        return "ok" if name == scenarios.EXAMPLE_NAME else f"read the envelope's name as {name!r}"
    return scenarios.compare_answer(scenario, answer)


def check_answers(scenario: scenarios.Scenario, impls: dict[str, Any]) -> None:
    """Raise :class:`scenarios.WrongAnswer` unless every implementation answers ``scenario`` right."""
    for key, function in impls.items():
        verdict = answer_verdict(scenario, function)
        if verdict != "ok":
            raise scenarios.WrongAnswer(
                f"{implementations.LABELS[key]} does not give the protocol's answer to {scenario.label!r}: {verdict}"
            )


def _row(scenario: scenarios.Scenario, impl: str, timing: dict[str, Any], answer: str, note: str) -> dict[str, Any]:
    return {
        "group": scenario.group,
        "scenario": scenario.name,
        "label": scenario.label,
        "param": scenario.param,
        "body_bytes": len(scenario.body),
        "impl": impl,
        "ns_min": timing["ns_min"],
        "ns_median": timing["ns_median"],
        "rounds": timing["rounds"],
        "number": timing["number"],
        "answer": answer,
        "note": note,
    }


def run(ctx: RunContext) -> dict[str, Any]:
    """Time every scenario; ``{"rows": [...], "seed_versions": {...}}``."""
    rows: list[dict[str, Any]] = []
    all_scenarios = scenarios.all_scenarios()
    for index, scenario in enumerate(all_scenarios, 1):
        if scenario.group == "routes":
            ctx.progress(f"building routers with {scenario.param:,} routes")
        impls = implementations.implementations_for(scenario)
        check_answers(scenario, impls)
        ctx.progress(
            f"[{index}/{len(all_scenarios)}] {scenario.label}: "
            f"timing {', '.join(implementations.LABELS[k] for k in impls)}"
        )
        gc.collect()
        timings = harness.interleaved(
            {key: (dispatch, scenario.body) for key, dispatch in impls.items()}, ctx.rounds, ctx.round_seconds
        )
        for key, timing in timings.items():
            note = implementations.ENVELOPE_NOTES.get(key, "") if scenario.group == "envelope" else ""
            rows.append(_row(scenario, key, timing, "ok", note))
        ctx.progress(
            "    " + " | ".join(f"{implementations.LABELS[k]} {t['ns_min'] / 1000:.2f} us" for k, t in timings.items())
        )
        del impls
        if scenario.group == "routes":
            implementations.release_routers()
    seed_versions: dict[str, str] = {}
    if ctx.use_seed:
        rows += _seed_rows(ctx, all_scenarios, seed_versions)
    return {"rows": rows, "seed_versions": seed_versions}


def _seed_rows(
    ctx: RunContext, all_scenarios: list[scenarios.Scenario], versions: dict[str, str]
) -> list[dict[str, Any]]:
    ctx.progress("events-protocol 0.2.4: checking its answers (seed venv)")
    answers: dict[str, str] = {}
    for record in ctx.run_seed_worker("--check-all"):
        if "versions" in record:
            versions.update(record["versions"])
            continue
        scenario = scenarios.scenario_by_name(record["scenario"])
        if record["error"]:
            answers[scenario.name] = f"no answer: {record['error']} escaped process_event"
        else:
            answers[scenario.name] = scenarios.compare_answer(scenario, record["answer"].encode())
    ctx.progress("events-protocol 0.2.4: timing (seed venv, same bodies, rounds and round length)")
    records = ctx.run_seed_worker(
        "--batch",
        ",".join(s.name for s in all_scenarios),
        "--rounds",
        str(ctx.rounds),
        "--round-seconds",
        str(ctx.round_seconds),
    )
    by_name = {s.name: s for s in all_scenarios}
    rows = []
    for record in records:
        timing = {
            "ns_min": record["ns_per_op_min"],
            "ns_median": record["ns_per_op_median"],
            "rounds": record["rounds"],
            "number": record["number"],
        }
        rows.append(_row(by_name[record["scenario"]], "seed", timing, answers[record["scenario"]], record["note"]))
    return rows
