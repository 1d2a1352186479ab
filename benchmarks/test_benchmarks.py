"""pytest-benchmark suites of the in-process implementations, and the benchmark command's own checks.

    pytest benchmarks/ --benchmark-only       # time every (scenario, implementation)
    pytest benchmarks/ --benchmark-disable    # run each once: answers and report checks only

Every timed implementation must first give the protocol's answer (``suite_dispatch.answer_verdict``,
the very check ``python -m benchmarks`` runs before timing). events-protocol 0.2.4 needs
pydantic v1, so it is timed in its own venv by ``python -m benchmarks``, not here. The
``tests/`` suite never collects this folder (``testpaths = ["tests"]``) and imports nothing from it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tools.seedenv import _is_ready, seed_venv_dir

from . import core_tricks, extending_cost, harness, implementations, report, run, scenarios, suite_dispatch
from .context import HERE

IN_PROCESS = ("floor", "compiled", "python", "pydantic")


def _cases() -> list[Any]:
    """``pytest.param(scenario, impl)`` for every in-process implementation that runs the scenario."""
    params = []
    for scenario in scenarios.all_scenarios():
        impls = [i for i in IN_PROCESS if scenario.group != "envelope" or i != "python"]  # one fastevents reader
        if scenario.group == "dispatch" and scenario.name != "success":
            impls.remove("floor")  # the floor answers success-shaped requests only
        params += [pytest.param(scenario, impl, id=f"{scenario.name}-{impl}") for impl in impls]
    return params


@functools.lru_cache(maxsize=1)  # the params come scenario by scenario: build each router set once
def _implementations(scenario: scenarios.Scenario) -> dict[str, implementations.Dispatch]:
    return implementations.implementations_for(scenario)


@pytest.mark.parametrize(("scenario", "impl"), _cases())
def test_bench(benchmark: Any, scenario: scenarios.Scenario, impl: str) -> None:
    found = _implementations(scenario)
    if scenario.group == "envelope" and impl == "compiled" and "python" in found:
        impl = "python"  # Event.from_json reads through whichever core is in use
    if impl not in found:
        pytest.skip(f"{implementations.LABELS[impl]}: not built here")
    function = found[impl]
    assert suite_dispatch.answer_verdict(scenario, function) == "ok"
    benchmark.group = scenario.label
    benchmark.extra_info["impl"] = implementations.LABELS[impl]
    benchmark(function, scenario.body)


def test_the_implementations_timed_are_those_the_tables_show() -> None:
    for scenario in scenarios.all_scenarios():
        if scenario.group == "routes" and scenario.param and scenario.param > 100:
            continue  # big routers: covered by test_bench
        found = implementations.implementations_for(scenario)
        assert "pydantic" in found
        if scenario.group != "envelope":
            assert ("compiled" in found) == implementations.COMPILED_BUILT and "python" in found
        # The floor has no error answers: it is timed on success-shaped requests only.
        assert ("floor" in found) == (scenario.group != "dispatch" or scenario.name == "success")


def test_payload_sizes_and_route_names_are_what_the_report_says() -> None:
    payloads = [s for s in scenarios.all_scenarios() if s.group == "payload"]
    for scenario, target in zip(payloads, scenarios.PAYLOAD_SIZES.values(), strict=True):
        assert scenario.param is not None and target * 0.8 <= scenario.param <= target
    names = scenarios.route_names(100_000)
    assert len(set(names)) == 100_000
    assert all(name.replace(":", "").isalpha() and name.islower() for name in names)


def test_a_wrong_answer_is_reported() -> None:
    scenario = scenarios.scenario_by_name("success")
    echoed = json.loads(scenario.body)
    echoed["name"] += ":response"
    echoed["payload"] = {"MyEventPayload": "example"}
    assert "auth" in scenarios.compare_answer(scenario, json.dumps(echoed).encode())
    assert scenarios.compare_answer(scenario, None).startswith("no answer")
    envelope = scenarios.scenario_by_name("envelope")
    assert suite_dispatch.answer_verdict(envelope, lambda body: None) != "ok"


def test_a_wrong_answer_stops_the_run_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not implementations.fastevents.COMPILED:
        pytest.skip("python -m benchmarks refuses to run without the compiled core")
    right = implementations.implementations_for

    def one_wrong(scenario: scenarios.Scenario) -> dict[str, implementations.Dispatch]:
        found = right(scenario)
        found["python"] = lambda body: b'{"name": "get:event:example:response"}'
        return found

    monkeypatch.setattr(implementations, "implementations_for", one_wrong)
    argv = ["--quick", "--no-pin", "--no-seed", "--suites", "dispatch", "--out", str(tmp_path)]
    assert run.main(argv) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_core_tricks_variants_still_apply_to_the_core() -> None:
    # Cheap (no compile): each variant's transformations find their code in today's core, so
    # `python -m benchmarks.core_tricks` still times what its note says.
    core = core_tricks.CORE.read_text(encoding="utf-8")
    sources = [core_tricks.transform(core, taken_out) for _, taken_out in core_tricks.VARIANTS]
    assert len(set(sources)) == len(sources) and sources[-1] == core  # the last is the shipped core
    assert all("\n_RAW_DIRECT = False\n" in source for source in sources[:2])
    assert "slot_get(object event, object descriptor)" in sources[0]
    assert all("body.isascii()" in source for source in sources[:3])
    with pytest.raises(SystemExit, match="found 0 times: the core changed"):
        core_tricks.transform(
            core.replace("_RAW_DIRECT = _raw_layout_known()", "_RAW_DIRECT = True"), core_tricks.RAW_DIRECT
        )


def _digests(paths: tuple[Path, ...]) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in paths]


def test_a_run_writes_under_build_and_leaves_the_committed_report_alone(tmp_path: Path) -> None:
    assert run.output_paths(None, False)[0].parent == run.ROOT / "build" / "benchmarks"
    assert run.output_paths(tmp_path, True) == run.COMMITTED
    before = _digests(run.COMMITTED)
    assert run.main(["--from-json", str(HERE / "results.json"), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BENCHMARKS.md", "chart.svg", "results.json"]
    assert _digests(run.COMMITTED) == before
    assert "](chart.svg)" in (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(run.BUILD_DIR / "results.json")], cwd=run.ROOT)
    assert ignored.returncode in (0, 128)  # 0: git-ignored; 128: not a git checkout


def test_targets_are_labelled_by_what_they_measure() -> None:
    results = json.loads((HERE / "results.json").read_text(encoding="utf-8"))
    document = report.markdown_document(results, "chart.svg") + report.targets_text(results)
    assert re.findall(r"\bissues?\b|#\d+\b", document, re.IGNORECASE) == []
    assert "in-process dispatch of the success scenario" in report.targets_text(results)


def test_no_chart_text_runs_off_the_chart() -> None:
    results = json.loads((HERE / "results.json").read_text(encoding="utf-8"))
    svg = ET.fromstring(report.svg_chart(results))
    width = float(svg.attrib["width"])
    texts = [t for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t.text and "AsyncEventClient over httpx.AsyncClient" in t.text for t in texts)  # not shortened
    anchors = {"label": 1.0, "title": 0.5, "tick": 0.5}  # share of the width left of x (the chart's CSS)
    for text in texts:
        css_class = text.attrib.get("class", "")
        extent = report._text_width(text.text or "", css_class)
        left = float(text.attrib["x"]) - anchors.get(css_class, 0.0) * extent
        assert left >= 0 and left + extent <= width, (text.text, css_class, left, left + extent)


def test_a_tiny_run_renders_table_chart_and_markdown() -> None:
    rows = []
    fastest = "compiled" if implementations.COMPILED_BUILT else "python"
    found: dict[str, implementations.Dispatch] = {}
    scenario = scenarios.scenario_by_name("success")
    for name in ("envelope", "success", "not_found", "payload_300", "routes_1"):
        scenario = scenarios.scenario_by_name(name)
        found = implementations.implementations_for(scenario)
        timings = harness.interleaved({k: (f, scenario.body) for k, f in found.items()}, 2, 0.0005)
        for impl, timing in timings.items():
            assert timing["ns_min"] <= timing["ns_median"]
            rows.append(
                {
                    "group": scenario.group,
                    "scenario": name,
                    "label": scenario.label,
                    "param": scenario.param,
                    "impl": impl,
                    "answer": "ok",
                    **timing,
                }
            )
    memory: dict[str, Any] = {"impl": fastest, "ok": True}
    memory.update(harness.measure_memory((found[fastest], scenario.body), 200, traced=20))
    results = {
        "suites": {"dispatch": {"rows": rows}, "memory": {"rows": [memory]}},
        "settings": {"mode": "quick"},
        "skipped": {"server": "not yet"},
    }
    table = report.timing_table(results)
    assert "success" in table and "fastevents pure-Python" in table
    if implementations.COMPILED_BUILT:
        assert "fastevents compiled" in table
        assert any("bare msgspec floor" in t["target"] for t in report.targets(results))
    ET.fromstring(report.svg_chart(results))
    document = report.markdown_document(results, "chart.svg")
    assert "## Fairness" in document and "server: not yet" in document


@pytest.mark.skipif(not _is_ready(seed_venv_dir()), reason="events-protocol 0.2.4 venv not provisioned")
def test_the_old_package_answers_success_like_the_others_apart_from_the_echo() -> None:
    python = str(seed_venv_dir() / "bin" / "python")
    out = subprocess.run(
        [python, str(HERE / "seed_worker.py"), "--check", "--scenario", "success"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    verdict = scenarios.compare_answer(scenarios.scenario_by_name("success"), out.encode())
    # Its known difference: it echoes the request's identity, auth and metadata.
    assert verdict.startswith("differs: identity=") and "name=" not in verdict and "payload=" not in verdict


@pytest.mark.parametrize("variant", list(extending_cost.variants()))
def test_extending_cost_one_variant_answers_as_callgrind_runs_it(variant: str) -> None:
    """``extending_cost --instructions`` counts the command ``--one VARIANT --calls N`` under
    callgrind (BENCHMARKS.md, "Extending the server"): the same command, without valgrind,
    answers the README example every time (and the observer hears every event)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.extending_cost", "--one", variant, "--calls", "5"],
        cwd=run.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == f"{variant}: 205 events answered\n"
