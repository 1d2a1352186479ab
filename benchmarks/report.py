"""Render a run's results: the side-by-side table, the targets, the SVG chart, BENCHMARKS.md.

Pure functions of the results dictionary (``results.json``), so a report can be rebuilt
from saved results with ``python -m benchmarks --from-json PATH``.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from .implementations import IMPLS, LABELS

GROUP_TITLES = {
    "envelope": "Envelope decode (README example, no dispatch)",
    "dispatch": "Full dispatch, bytes in to bytes out (README example)",
    "payload": "Payload size (typed list echo)",
    "routes": "Router size (README handler under N names)",
}
#: The in-process speed targets: (other implementation, minimum speed-up of compiled fastevents).
SPEED_TARGETS = (("seed", 40.0), ("pydantic", 5.0), ("python", 1.15))
FLOOR_TARGET = 1.2
RSS_TARGET_MIB = 5.0
#: The HTTP server targets: fastevents serve's requests/s over FastAPI's, over the bare msgspec
#: ASGI app's on stock uvicorn, over the raw fixed-answer protocol's (the stack's ceiling).
SERVER_VS_FASTAPI = 3.0
SERVER_VS_BARE = 1.5
SERVER_VS_RAW = 0.7
COLORS = {"floor": "#7f7f7f", "compiled": "#1f77b4", "python": "#6baed6", "pydantic": "#d62728", "seed": "#9467bd"}


# --- lookups ---------------------------------------------------------------------------


def timing_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    return results.get("suites", {}).get("dispatch", {}).get("rows", [])


def scenarios_in_order(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for row in rows:
        seen.setdefault((row["group"], row["scenario"]), None)
    return list(seen)


def times(rows: list[dict[str, Any]], scenario: str, stat: str = "ns_min") -> dict[str, float]:
    return {row["impl"]: row[stat] for row in rows if row["scenario"] == scenario}


def speedup(t: dict[str, float], other: str) -> float | None:
    """How many times faster compiled fastevents is than ``other`` (``None``: not measured)."""
    if "compiled" not in t or other not in t:
        return None
    return t[other] / t["compiled"]


def floor_ratio(t: dict[str, float]) -> float | None:
    """Compiled fastevents' time over the bare msgspec floor's (1.0 = as fast as the floor)."""
    if "compiled" not in t or "floor" not in t:
        return None
    return t["compiled"] / t["floor"]


# --- text ------------------------------------------------------------------------------


def fmt_time(ns: float) -> str:
    us = ns / 1000
    if us < 10:
        return f"{us:.2f} µs"
    if us < 1000:
        return f"{us:.1f} µs"
    return f"{us / 1000:.2f} ms"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def present_impls(rows: list[dict[str, Any]]) -> list[str]:
    found = {row["impl"] for row in rows}
    return [impl for impl in IMPLS if impl in found]


def timing_table(results: dict[str, Any]) -> str:
    """The side-by-side table (markdown): min (median) per event, then compiled's ratios."""
    rows = timing_rows(results)
    impls = present_impls(rows)
    others = [impl for impl in ("python", "pydantic", "seed") if impl in impls]
    lines: list[str] = []
    group = None
    for grp, scenario in scenarios_in_order(rows):
        if grp != group:
            group = grp
            header = [
                "scenario",
                *(LABELS[i] for i in impls),
                "compiled / floor",
                *(f"compiled vs {LABELS[i]}" for i in others),
            ]
            lines += [
                "",
                f"**{GROUP_TITLES.get(grp, grp)}**: time per event, min (median)",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
        t_min = times(rows, scenario)
        t_med = times(rows, scenario, "ns_median")
        label = next(r["label"] for r in rows if r["scenario"] == scenario)
        cells = [label]
        for impl in impls:
            if impl in t_min:
                mark = "" if _answer(rows, scenario, impl) == "ok" else " †"
                cells.append(f"{fmt_time(t_min[impl])} ({fmt_time(t_med[impl])}){mark}")
            else:
                cells.append("–")
        cells.append(fmt_ratio(floor_ratio(t_min)))
        cells += [_faster(speedup(t_min, o)) for o in others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).strip() + "\n"


def _faster(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    return f"{fmt_ratio(ratio)} faster" if ratio >= 1 else f"{fmt_ratio(1 / ratio)} slower"


def _answer(rows: list[dict[str, Any]], scenario: str, impl: str) -> str:
    for row in rows:
        if row["scenario"] == scenario and row["impl"] == impl:
            return str(row.get("answer", "ok"))
    return "ok"


def answer_notes(results: dict[str, Any]) -> list[str]:
    """One line per (scenario, implementation) whose answer is not the protocol's."""
    return [
        f"{row['label']}, {LABELS[row['impl']]}: {row['answer']}"
        for row in timing_rows(results)
        if row.get("answer", "ok") != "ok"
    ]


def memory_table(results: dict[str, Any]) -> str:
    memory = results.get("suites", {}).get("memory")
    if not memory:
        return ""
    header = [
        "implementation",
        "dispatches",
        "RSS before",
        "RSS after",
        "RSS growth",
        "peak RSS",
        "blocks kept / event",
        "allocated while handling one event (median / max)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in memory["rows"]:
        lines.append(
            "| "
            + " | ".join(
                [
                    LABELS[row["impl"]],
                    f"{row['dispatches']:,}",
                    f"{row['rss_before_mib']:.1f} MiB",
                    f"{row['rss_after_mib']:.1f} MiB",
                    f"{row['rss_growth_mib']:+.2f} MiB",
                    f"{row['peak_rss_mib']:.1f} MiB",
                    f"{row['blocks_kept_per_event']:.4f}",
                    f"{row['traced_peak_bytes_median']:,} B / {row['traced_peak_bytes_max']:,} B",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The in-process targets (dispatch time, memory) with the measured ratios (min and median based) and verdicts."""
    rows = timing_rows(results)
    found: list[dict[str, Any]] = []
    t_min, t_med = times(rows, "success"), times(rows, "success", "ns_median")
    dispatch = [s for g, s in scenarios_in_order(rows) if g == "dispatch"]
    for other, goal in SPEED_TARGETS:
        a, b = speedup(t_min, other), speedup(t_med, other)
        if a is None or b is None:
            continue
        worst = min((r for s in dispatch if (r := speedup(times(rows, s), other)) is not None), default=None)
        found.append(
            {
                "target": f"compiled ≥ {goal:g}x faster than {LABELS[other]}",
                "measured": f"{fmt_ratio(a)} (median {fmt_ratio(b)}); worst dispatch scenario {fmt_ratio(worst)}",
                "met": min(a, b) >= goal,
            }
        )
    a, b = floor_ratio(t_min), floor_ratio(t_med)
    if a is not None and b is not None:
        found.append(
            {
                "target": f"compiled within {FLOOR_TARGET:g}x of the bare msgspec floor",
                "measured": f"compiled / floor = {a:.2f}x (median {b:.2f}x)",
                "met": max(a, b) <= FLOOR_TARGET,
            }
        )
    memory = results.get("suites", {}).get("memory")
    if memory:
        for row in memory["rows"]:
            if row["impl"] == "compiled":
                found.append(
                    {
                        "target": f"compiled: RSS grows < {RSS_TARGET_MIB:g} MiB over the dispatches",
                        "measured": f"{row['rss_growth_mib']:+.2f} MiB over {row['dispatches']:,} dispatches",
                        "met": row["rss_growth_mib"] < RSS_TARGET_MIB,
                    }
                )
    return found


def http_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTTP targets (server under load, clients) with the measured ratios and verdicts."""
    found: list[dict[str, Any]] = []
    server = results.get("suites", {}).get("server")
    if server:
        labels = {row["server"]: row["label"] for row in server["rows"]}
        for other, goal, word in (
            ("fastapi", SERVER_VS_FASTAPI, "faster than"),
            ("bare", SERVER_VS_BARE, "the requests/s of"),
            ("raw", SERVER_VS_RAW, "the requests/s of"),
        ):
            ratio = server.get("ratios", {}).get(other)
            if ratio is None:
                continue
            per_core = ratio.get("per_core")
            found.append(
                {
                    "target": f"fastevents serve ≥ {goal:g}x {word} {labels[other]} (requests/s)",
                    "measured": f"{ratio['median']:.2f}x (median of per-round ratios: "
                    f"{', '.join(f'{r:.2f}' for r in ratio['rounds'])})"
                    + ("" if per_core is None else f"; per core (CPU per request): {per_core:.2f}x"),
                    "met": ratio["median"] >= goal,
                }
            )
        rows = {row["server"]: row for row in server["rows"]}
        if "fastevents" in rows and "asgi" in rows:
            new, old = rows["fastevents"], rows["asgi"]
            found.append(
                {
                    "target": f"fastevents serve's p99 latency ≤ that of its ASGI path "
                    f"({server['connections']} connections)",
                    "measured": f"{new['p99_ms']:.2f} ms vs {old['p99_ms']:.2f} ms (medians of the rounds)",
                    "met": new["p99_ms"] <= old["p99_ms"],
                }
            )
    clients = results.get("suites", {}).get("clients")
    if clients:
        labels = {row["kind"]: row["label"] for row in clients["rows"]}
        for ratio in clients["ratios"]:
            if ratio["target"] is None:
                continue
            found.append(
                {
                    "target": f"{labels[ratio['kind']]} ≥ {ratio['target']:g}x {labels[ratio['baseline']]} "
                    "(round trips/s)",
                    "measured": f"{ratio['median']:.2f}x (median of per-round ratios: "
                    f"{', '.join(f'{r:.2f}' for r in ratio['rounds'])})",
                    "met": ratio["median"] >= ratio["target"],
                }
            )
    return found


def targets_text(results: dict[str, Any]) -> str:
    lines = ["| target (in-process dispatch of the success scenario, memory) | measured | verdict |", "|---|---|---|"]
    for item in targets(results):
        lines.append(f"| {item['target']} | {item['measured']} | {'met' if item['met'] else 'NOT met'} |")
    http = http_targets(results)
    if http:
        lines += [
            "",
            "| target (over HTTP: server requests/s, client round trips/s) | measured | verdict |",
            "|---|---|---|",
        ]
        for item in http:
            lines.append(f"| {item['target']} | {item['measured']} | {'met' if item['met'] else 'NOT met'} |")
    return "\n".join(lines) + "\n"


def server_table(results: dict[str, Any]) -> str:
    server = results.get("suites", {}).get("server")
    if not server:
        return ""
    header = [
        "server (1 worker, uvloop + httptools)",
        "requests/s",
        "p50 latency",
        "p99 latency",
        "max latency",
        "requests (errors)",
        "server CPU per request",
        "requests/s ÷ raw floor (per core)",
        "requests/s ÷ msgspec floor (per core)",
        "server RSS after",
        "fastevents serve vs this (per core)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def pair(ratio: dict[str, Any] | None, rate: str, core: str) -> str:
        if ratio is None:
            return "–"
        return f"{ratio[rate]:.2f}x" + ("" if ratio.get(core) is None else f" ({ratio[core]:.2f}x)")

    for row in server["rows"]:
        ratio = server.get("ratios", {}).get(row["server"])
        rss = "–" if row.get("rss_mib") is None else f"{row['rss_mib']:.1f} MiB"
        floors = row.get("vs_floors", {})
        lines.append(
            "| "
            + " | ".join(
                [
                    row["label"],
                    f"{row['rate']:,.0f}",
                    f"{row['p50_ms']:.2f} ms",
                    f"{row['p99_ms']:.2f} ms",
                    f"{row['max_ms']:.2f} ms",
                    f"{row['requests']:,} ({row['errors']})",
                    "–" if row.get("cpu_us") is None else f"{row['cpu_us']:.1f} µs",
                    pair(floors.get("raw"), "rate", "per_core"),
                    pair(floors.get("raw_msgspec"), "rate", "per_core"),
                    rss,
                    pair(ratio, "median", "per_core"),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def clients_table(results: dict[str, Any]) -> str:
    clients = results.get("suites", {}).get("clients")
    if not clients:
        return ""
    lines = ["| client | mode | round trips/s (median) | per round |", "|---|---|---|---|"]
    for row in clients["rows"]:
        lines.append(
            f"| {row['label']} | {row['mode']} | {row['rate_median']:,.0f} | "
            f"{', '.join(f'{r:,.0f}' for r in row['rates'])} |"
        )
    labels = {row["kind"]: row["label"] for row in clients["rows"]}
    lines += ["", "| ratio (median of per-round ratios) | value | per round |", "|---|---|---|"]
    for ratio in clients["ratios"]:
        lines.append(
            f"| {labels[ratio['kind']]} / {labels[ratio['baseline']]} | {ratio['median']:.2f}x | "
            f"{', '.join(f'{r:.2f}' for r in ratio['rounds'])} |"
        )
    return "\n".join(lines) + "\n"


# --- the chart -------------------------------------------------------------------------

_W, _PANEL_H, _LEFT, _RIGHT = 880, 300, 150, 200
_PAD = 8  # between a text and the edge of the chart or the bars it labels

#: Advance widths of DejaVu Sans (what ``sans-serif`` renders as on Linux), in em.
_NARROW = dict.fromkeys("ijl.,:;'|!", 0.30) | dict.fromkeys(" ()[]/-ftr", 0.40)
_WIDE = dict.fromkeys("mwMW%@", 1.0) | dict.fromkeys("ABCDGHKNOQRUVXY", 0.79)
_FONT_PX = {"title": 13.0, "value": 10.0}


def _text_width(text: str, css_class: str = "label") -> float:
    """A generous estimate of ``text``'s rendered width in px (the chart's CSS, DejaVu Sans).

    SVG has no text measurement and the chart must not be cropped, so labels are laid out
    from this estimate: unlisted characters count as 0.66 em, bold titles 10% wider.
    """
    em = sum(_NARROW.get(c, _WIDE.get(c, 0.66)) for c in text)
    return em * _FONT_PX.get(css_class, 11.0) * (1.1 if css_class == "title" else 1.0)


def _legend_x1(legends: list[str]) -> float:
    """The right end of a panel's plot area, leaving room for its legend (swatch at +15, text at +32)."""
    return _W - max(_RIGHT, 32 + max((_text_width(t, "legend") for t in legends), default=0) + _PAD)


def _label_x0(labels: list[str]) -> float:
    """The left end of a panel's plot area, leaving room for its right-aligned labels."""
    return max(_LEFT, max((_text_width(t) for t in labels), default=0) + 2 * _PAD)


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low <= value <= high:
                ticks.append(value)
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:g}" if value < 1e4 else f"{value:.0e}".replace("e+0", "e")


def _ratio_panel(results: dict[str, Any], top: float) -> list[str]:
    rows = timing_rows(results)
    picked = [(g, s) for g, s in scenarios_in_order(rows) if g in ("envelope", "dispatch")]
    series = [o for o in ("seed", "pydantic", "python", "floor") if any(r["impl"] == o for r in rows)]
    bars = [(s, o, speedup(times(rows, s), o)) for _, s in picked for o in series]
    values = [v for *_, v in bars if v]
    if not values:
        return []
    low, high = min(0.5, min(values) * 0.8), max(values) * 1.3
    labels = [next(r["label"] for r in rows if r["scenario"] == s) for _, s in picked]
    x0, x1 = _label_x0(labels), _legend_x1([f"vs {LABELS[o]}" for o in series])

    def x(v: float) -> float:
        return x0 + (math.log10(v) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (x1 - x0)

    out = [
        f'<text x="{_W / 2}" y="{top + 18}" class="title">How many times faster compiled fastevents '
        f"is (log scale; &lt;1: the other is faster)</text>"
    ]
    band = (_PANEL_H - 60) / len(picked)
    bar_h = band * 0.8 / len(series)
    for tick in _log_ticks(low, high):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{top + 30}" x2="{x(tick):.1f}" y2="{top + _PANEL_H - 25}" '
            f'class="{"one" if tick == 1 else "grid"}"/>'
        )
        out.append(f'<text x="{x(tick):.1f}" y="{top + _PANEL_H - 10}" class="tick">{_tick_label(tick)}x</text>')
    for i, (_, scenario) in enumerate(picked):
        y_band = top + 35 + i * band
        label = next(r["label"] for r in rows if r["scenario"] == scenario)
        out.append(f'<text x="{x0 - 8}" y="{y_band + band * 0.45:.1f}" class="label">{escape(label)}</text>')
        for j, other in enumerate(series):
            value = speedup(times(rows, scenario), other)
            if value is None:
                continue
            y = y_band + j * bar_h
            start, end = sorted((x(1), x(value)))
            out.append(
                f'<rect x="{start:.1f}" y="{y:.1f}" width="{max(end - start, 1):.1f}" '
                f'height="{bar_h * 0.9:.1f}" fill="{COLORS[other]}"/>'
            )
            out.append(f'<text x="{end + 3:.1f}" y="{y + bar_h * 0.75:.1f}" class="value">{fmt_ratio(value)}</text>')
    for j, other in enumerate(series):
        out.append(f'<rect x="{x1 + 15}" y="{top + 40 + j * 18}" width="12" height="12" fill="{COLORS[other]}"/>')
        out.append(f'<text x="{x1 + 32}" y="{top + 50 + j * 18}" class="legend">vs {escape(LABELS[other])}</text>')
    return out


def _growth_panel(results: dict[str, Any], group: str, top: float, title: str, x_title: str) -> list[str]:
    rows = [r for r in timing_rows(results) if r["group"] == group and r.get("param")]
    if not rows:
        return []
    xs = sorted({r["param"] for r in rows})
    ys = [r["ns_min"] / 1000 for r in rows]
    x_low, x_high = min(xs) / 1.5, max(xs) * 1.5
    y_low, y_high = min(ys) / 1.5, max(ys) * 1.5
    y_ticks = _log_ticks(y_low, y_high)
    x0 = _label_x0([f"{_tick_label(t)} µs" for t in y_ticks])
    x1 = _legend_x1([LABELS[impl] for impl in present_impls(rows)])
    y0, y1 = top + _PANEL_H - 30, top + 30

    def px(v: float) -> float:
        return x0 + (math.log10(v) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low)) * (x1 - x0)

    def py(v: float) -> float:
        return y0 - (math.log10(v) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low)) * (y0 - y1)

    out = [f'<text x="{_W / 2}" y="{top + 18}" class="title">{escape(title)}</text>']
    for tick in y_ticks:
        out.append(f'<line x1="{x0}" y1="{py(tick):.1f}" x2="{x1}" y2="{py(tick):.1f}" class="grid"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(tick) + 4:.1f}" class="label">{_tick_label(tick)} µs</text>')
    for value in xs:
        label = next(r["label"] for r in rows if r["param"] == value)
        out.append(f'<text x="{px(value):.1f}" y="{y0 + 16}" class="tick">{escape(label)}</text>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{y0 + 29}" class="tick">{escape(x_title)}</text>')
    for j, impl in enumerate(present_impls(rows)):
        points = sorted((r["param"], r["ns_min"] / 1000) for r in rows if r["impl"] == impl)
        path = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[impl]}" stroke-width="2"/>')
        out += [f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{COLORS[impl]}"/>' for a, b in points]
        out.append(f'<rect x="{x1 + 15}" y="{top + 40 + j * 18}" width="12" height="12" fill="{COLORS[impl]}"/>')
        out.append(f'<text x="{x1 + 32}" y="{top + 50 + j * 18}" class="legend">{escape(LABELS[impl])}</text>')
    return out


def _bars_panel(
    items: list[tuple[str, float, str]], top: float, title: str, unit: str, texts: list[str] | None = None
) -> list[str]:
    """Horizontal bars on a linear scale from zero: ``(label, value, color)`` each; ``texts``
    replaces the ``value unit`` written after each bar."""
    if not items:
        return []
    if texts is None:
        texts = [f"{value:,.0f} {unit}" for _, value, _ in items]
    high = max(value for _, value, _ in items)
    x0 = _label_x0([label for label, _, _ in items])
    x1 = _W - max(_text_width(text, "value") for text in texts) - 4 - _PAD
    band = (_PANEL_H - 60) / len(items)

    def x(v: float) -> float:
        return x0 + v / high * (x1 - x0)

    out = [f'<text x="{_W / 2}" y="{top + 18}" class="title">{escape(title)}</text>']
    for i, (label, value, color) in enumerate(items):
        y = top + 35 + i * band
        out.append(f'<text x="{x0 - 8}" y="{y + band * 0.55:.1f}" class="label">{escape(label)}</text>')
        out.append(
            f'<rect x="{x0}" y="{y + band * 0.1:.1f}" width="{max(x(value) - x0, 1):.1f}" '
            f'height="{band * 0.7:.1f}" fill="{color}"/>'
        )
        out.append(f'<text x="{x(value) + 4:.1f}" y="{y + band * 0.55:.1f}" class="value">{escape(texts[i])}</text>')
    return out


_SERVER_COLORS = {
    "fastevents": COLORS["compiled"],
    "asgi": COLORS["python"],
    "bare": COLORS["floor"],
    "raw": "#bdbdbd",
    "raw_msgspec": "#a0a0a0",
    "fastapi": COLORS["pydantic"],
}


def _http_panels(results: dict[str, Any]) -> list[tuple[str, list[tuple[str, float, str]], str, list[str] | None]]:
    panels = []
    server = results.get("suites", {}).get("server")
    if server:
        items = [(row["label"], row["rate"], _SERVER_COLORS.get(row["server"], "#555")) for row in server["rows"]]
        panels.append(
            (
                f"Servers under load: requests/s, {server['connections']} connections, 1 worker on one core",
                items,
                "req/s",
                None,
            )
        )
        if all(row.get("cpu_us") for row in server["rows"]):
            items = [
                (row["label"], 1e6 / row["cpu_us"], _SERVER_COLORS.get(row["server"], "#555")) for row in server["rows"]
            ]
            texts = [
                f"{1e6 / row['cpu_us']:,.0f}/s, {row['cpu_us']:.1f} µs"
                + (f", {raw['per_core']:.2f}x raw floor" if (raw := row.get("vs_floors", {}).get("raw")) else "")
                for row in server["rows"]
            ]
            panels.append(
                ("Servers per core: requests per CPU-second, CPU per request, ratio to the raw floor", items, "", texts)
            )
    clients = results.get("suites", {}).get("clients")
    if clients:

        def color(kind: str) -> str:
            return (
                COLORS["compiled"]
                if kind.startswith("fastevents")
                else (COLORS["seed"] if kind.startswith("seed") else COLORS["floor"])
            )

        items = [(f"{row['label']} ({row['mode']})", row["rate_median"], color(row["kind"])) for row in clients["rows"]]
        panels.append(("Clients: round trips/s against fastevents serve (median of rounds)", items, "/s", None))
    return panels


def svg_chart(results: dict[str, Any]) -> str:
    """The ratios, time per event against payload and router size, and the HTTP figures, as one SVG."""
    panels = [
        _ratio_panel(results, 0),
        _growth_panel(
            results, "payload", _PANEL_H, "Time per event vs payload size (log-log, min of rounds)", "payload size"
        ),
        _growth_panel(
            results, "routes", 2 * _PANEL_H, "Time per event vs registered routes (log-log)", "registered routes"
        ),
    ]
    count = 3
    for title, items, unit, texts in _http_panels(results):
        panels.append(_bars_panel(items, count * _PANEL_H, title, unit, texts))
        count += 1
    height = count * _PANEL_H + 10
    style = (
        "<style>text{font-family:sans-serif;font-size:11px;fill:#222}"
        ".title{font-size:13px;font-weight:bold;text-anchor:middle}.label{text-anchor:end}"
        ".tick{text-anchor:middle}.value{font-size:10px}.grid{stroke:#ddd;stroke-width:1}"
        ".one{stroke:#444;stroke-width:1.5}</style>"
    )
    body = "\n".join(line for panel in panels for line in panel)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}">\n{style}\n<rect width="100%" height="100%" fill="white"/>\n'
        f"{body}\n</svg>\n"
    )


# --- BENCHMARKS.md ---------------------------------------------------------------------


def machine_text(results: dict[str, Any]) -> str:
    meta = results.get("machine", {})
    versions = meta.get("versions", {})
    seed = results.get("suites", {}).get("dispatch", {}).get("seed_versions", {})
    lines = [
        f"- CPU: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; {meta.get('pinning', 'not pinned')}",
        f"- OS: {meta.get('platform', '?')}",
        f"- Python {meta.get('python', '?')} ({meta.get('implementation', '?')}), garbage collector on",
        "- " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- fastevents core: {meta.get('core', '?')}",
    ]
    if seed:
        lines.append(
            f"- seed venv: events-protocol {seed.get('events_protocol')}, pydantic "
            f"{seed.get('pydantic')}, Python {seed.get('python')}"
        )
    settings = results.get("settings", {})
    lines.append(
        f"- run: `{results.get('command', 'python -m benchmarks')}` ({settings.get('mode')} mode) on "
        f"{results.get('date', '?')}, {settings.get('rounds')} interleaved rounds of about "
        f"{settings.get('round_seconds')} s per implementation and scenario; took "
        f"{results.get('duration_seconds', 0):.0f} s"
    )
    server = results.get("suites", {}).get("server")
    if server:
        lines.append(f"- HTTP: {server['pinning']}; load generator: {server['generator_description']}")
    return "\n".join(lines) + "\n"


FAIRNESS = """\
- **Same requests, same handlers, same answers.** Every implementation is timed on the very
  same request bytes (`benchmarks/scenarios.py`) with the same handler functions
  (`benchmarks/handlers.py`), and before timing each one's answer is checked against the
  protocol's answer (`scenarios.expected_answer`). An in-process implementation that answers
  wrongly stops the run (CI runs `python -m benchmarks --quick`); events-protocol 0.2.4's
  differences are what the comparison is about, so the table marks them † and lists them below.
- **Timing.** Bytes in, bytes out, called in a bare `for` loop with no wrapper. The
  in-process implementations run side by side in one process, in interleaved rounds (A, B,
  C, D, A, B, …, the order rotating every round) so machine noise hits them alike; min and
  median over the rounds. The garbage collector is on everywhere. The whole run, and every
  process it starts, is pinned to one CPU (see the machine section).
- **fastevents** (compiled core and pure-Python twin, same package, `core=` argument):
  decodes the envelope in one pass and keeps `id`, `flowId`, `payload`, `identity`, `auth`
  and `metadata` as raw JSON slices; the payload is decoded straight into the handler's
  `msgspec.Struct`; it checks every envelope rule of the protocol, makes the event current
  in a context variable while the handler runs, and writes the answer around the raw ids.
  Its error answers log a record; the `fastevents` logger is set to CRITICAL for the run
  (the level check stays in), as the old package's loggers are.
- **bare msgspec floor**: a lower bound, not an implementation: envelope into a plain
  Struct (no checks, no defaults for missing ids, no numeric-string versions), a dict
  lookup, the typed payload decoder, the handler, `Encoder().encode` of the answer dict. No
  context variable, no error answers: it is only timed on success-shaped scenarios.
- **pydantic v2 variant** (`benchmarks/pydantic_variant.py`, what a pydantic expert would
  write today): validates the whole envelope with `model_validate_json`, which fully
  decodes `payload`, `identity`, `auth` and `metadata` into Python objects (fastevents keeps
  them raw until read); one `TypeAdapter` per route for the payload; `pydantic_core.to_json`
  of the answer dict; the event in a context variable. It does not log.
- **events-protocol 0.2.4** (the real package from PyPI, with pydantic 1 in its own venv,
  timed by `seed_worker.py` in a separate process with the same rounds and round length;
  it cannot be interleaved with the others): built as its README shows. It echoes the
  request's `identity`, `auth` (tokens!) and `metadata` in every answer, answers a missing
  handler with `<name>:notFound`/`EVENT_NOT_FOUND`, and lets a handler's exception escape
  `process_event` (no error event at all; the timing includes the worker's `except`). Its
  loggers are set to CRITICAL (it would print JSON to stdout), but it still builds the log
  record's argument before the level check; that cost is its own.
- **Envelope decode** times reading an envelope without dispatch: fastevents'
  `Event.from_json` does not use the dispatch core, so there is one fastevents figure.
- **Payload sizes**: an echo handler with a typed list (`{"items": [{"id", "name", "qty",
  "tags"}, …]}`): every implementation decodes the list into its typed objects (msgspec
  Structs, pydantic models) and encodes them back as `{"count": n, "items": [...]}`.
- **Memory**: each implementation in a fresh process (the same pinned core): RSS before and
  after N dispatches of the success scenario (after a warm-up and a full collection each
  side), the peak RSS of the process, the blocks kept per event (`sys.getallocatedblocks`
  delta / N: a leak shows here first) and the memory allocated while one event is handled
  (`tracemalloc` peak above the live memory, over 2,000 further events).
"""


HTTP_FAIRNESS = """\
- **Servers.** All three run under the same uvicorn configuration, that of `fastevents serve`
  (`fastevents._server._run.run`: httptools, uvloop, access log off, lifespan on, one
  worker, a pre-bound socket); `benchmarks/http_serve.py` serves the two ASGI apps that are not
  fastevents. The **bare msgspec ASGI app** (`benchmarks/http_bare_app.py`) is the server's own
  limit, not an implementation: read the body, decode the envelope into a plain Struct
  (`payload: msgspec.Raw`), a dict lookup, the typed payload decoder, the handler, the answer
  dict in protocol key order through `msgspec.json.Encoder`; no path, method or content-type
  checks, no envelope rules, no error answers. **FastAPI + pydantic v2**
  (`benchmarks/http_fastapi_app.py`): an `async def` `POST /events` route that takes the raw body
  and answers with the pydantic v2 variant above (`Response(..., media_type="application/json")`,
  docs routes off). A pydantic-model parameter was not used: FastAPI would answer an invalid
  envelope with HTTP 422 and its own error document, where the protocol asks for HTTP 200 and a
  `badProtocol` event. **fastevents serve** checks path, method, content type, charset and body
  size, and applies every envelope rule.
- **Floors and the direct path.** The two floors (`benchmarks/http_raw.py`) run no uvicorn at
  all: one `asyncio.Protocol` per connection on uvloop with an httptools parser, answering from
  the parser's `on_message_complete` callback; they check nothing and keep no limit, timer or
  log. `fastevents serve`'s direct path (`fastevents/_server/_direct.py`) runs inside its hardened
  uvicorn protocol: every limit, deadline, keep-alive timer and the date header stay; a `POST`
  to the events path goes from the parser's callbacks to the processor without an ASGI scope,
  `receive`/`send` or a task (for a synchronous handler such as this one). Two more rows put
  the same raw protocol around fastevents' own dispatch (`EventProcessor.process_event`, the
  router serve serves): in Python (`--answer events`), and compiled with Cython
  (`benchmarks/raw_events.pyx`, `--answer events-compiled`), where the parser's callbacks are C
  calls and the state C fields. They bound what a direct path can reach on this stack: the
  first is serve without its limits and bookkeeping; the second is what is left when the HTTP
  side costs nothing in Python, so its ratio to the fixed-answer floor is the most any events
  server on uvloop + httptools that decodes and encodes each event can reach.
- **Load.** wrk (C, one thread) is far cheaper per request than any Python server, so one core
  keeps the server's core saturated; the aiohttp fallback generator (used only when wrk is
  absent) is slower than the servers and then measures itself as much as them. No request
  fails during a measured round (a failed one aborts the suite). wrk does not correct for
  coordinated omission: latencies are those of a closed loop of 64 connections.
- **Clients.** The raw loops post prebuilt bytes that carry `id` and `flowId`, so the server
  does the same work for every kind; the event clients build the envelope (fresh UUIDs),
  send it and parse the answer into a `ResponseEvent` on every call. events-protocol 0.2.4's
  client (requests, in its own venv) logs through loggers set to CRITICAL.
"""


def markdown_document(results: dict[str, Any], chart_link: str) -> str:
    """The whole report; ``chart_link`` is the chart's path relative to the document."""
    notes = answer_notes(results)
    memory = results.get("suites", {}).get("memory", {})
    seed_memory = next((r for r in memory.get("rows", []) if r["impl"] == "seed"), None)
    parts = [
        "# Benchmarks\n",
        f"Generated by `{results.get('command', 'python -m benchmarks')}`; do not edit by hand. "
        "`python -m benchmarks` (`--quick`: about a minute) writes this report, `results.json` and "
        "`chart.svg` under `build/benchmarks/`; `python -m benchmarks --update-committed` rewrites the "
        "committed `BENCHMARKS.md`, `benchmarks/results.json` and `benchmarks/chart.svg`. "
        "`pytest benchmarks/ --benchmark-only` runs the pytest-benchmark suites of the in-process "
        "implementations.\n",
        "## Machine\n",
        machine_text(results),
        "## Targets\n",
        targets_text(results),
        "## Time per event\n",
        "Min of the rounds, median in parentheses. *compiled / floor* is compiled fastevents' time "
        "over the bare msgspec floor's; *compiled vs X* is how many times faster compiled fastevents "
        "is than X.\n",
        timing_table(results),
    ]
    if notes:
        parts += [
            "\n† Answers that are not the protocol's (checked before timing):\n",
            "\n".join(f"- {note}" for note in notes) + "\n",
        ]
    parts += [f"\n![ratios and growth]({chart_link})\n"]
    if memory:
        parts += [
            "## Memory (success scenario)\n",
            memory_table(results),
        ]
        if seed_memory and seed_memory["dispatches"] != results.get("settings", {}).get("memory_dispatches"):
            parts.append(
                f"\nevents-protocol 0.2.4 runs fewer dispatches ({seed_memory['dispatches']:,}): "
                "at its speed the full count would dominate the run.\n"
            )
        if results.get("settings", {}).get("mode") == "quick":
            parts.append("\nQuick mode: fewer dispatches than the 1,000,000 of the target.\n")
    server = results.get("suites", {}).get("server")
    if server:
        parts += [
            "## ASGI server under load (README example)\n",
            f"{server['generator_description']} on {server['connections']} keep-alive connections; "
            f"{server['pinning']}. Each server answers the {server['body_bytes']}-byte `success` request of "
            f"the in-process table (checked against the protocol's answer first). After a "
            f"{server['warmup_seconds']:g} s warm-up each, the servers (all running at once, the idle "
            f"ones asleep) are loaded in {server['rounds']} interleaved rounds of {server['round_seconds']:g} s; "
            "requests/s is over all rounds, p50/p99 the median of the rounds' percentiles, *max* the worst "
            "round's. *Server CPU per request* is the server's CPU time over a round (all its threads, from "
            "`/proc/*/schedstat`) divided by the round's requests, median of the rounds. Ratios are medians "
            "of per-round ratios: of requests/s, and in parentheses *per core*, of requests per CPU-second "
            "(the inverse ratio of CPU per request), which the other work on a shared machine disturbs far "
            "less. The floors are a raw `asyncio.Protocol` on uvloop + httptools (`benchmarks/http_raw.py`) "
            "answering fixed bytes (the ceiling of this stack) or the bare msgspec answer; *fastevents serve* "
            "answers `POST /events` on its direct path, *ASGI path* is the same server with "
            "`FASTEVENTS_SERVE_ASGI=1` (what `fastevents serve` was before it).\n",
        ]
        if server.get("note"):
            parts.append(server["note"] + "\n")
        parts += [
            server_table(results),
        ]
        for name, reason in server.get("skipped", {}).items():
            parts.append(f"\nNot measured: {name}: {reason}\n")
    clients = results.get("suites", {}).get("clients")
    if clients:
        parts += [
            "## Clients (README example, round trips/s)\n",
            f"Against `{clients['server']}` (1 worker); {clients['pinning']}. Sequential clients send one "
            f"event at a time; async ones keep {clients['inflight']} in flight. Each kind runs in a fresh "
            f"process per round (200 warm-up round trips, then {clients['round_seconds']:g} s), "
            f"{clients['rounds']} interleaved rounds; every answer is checked (a success event, HTTP 200).\n",
            clients_table(results),
        ]
    attacks = Path(__file__).resolve().parent / "attacks.md"  # written by python -m benchmarks.http_attacks
    if attacks.exists():
        parts.append(attacks.read_text())
    parts += ["## Fairness\n", FAIRNESS]
    if server or clients:
        parts.append(HTTP_FAIRNESS)
    # Sections measured by hand (scripts of their own): kept whenever the report is written.
    for note in sorted((Path(__file__).resolve().parent / "notes").glob("*.md")):
        parts.append(note.read_text())
    skipped = results.get("skipped", {})
    if skipped:
        parts += ["## Not measured\n", "\n".join(f"- {name}: {reason}" for name, reason in skipped.items()) + "\n"]
        if {"server", "clients"} & set(skipped):
            parts.append(
                "\nThe ASGI server scenarios (`fastevents serve` vs a bare msgspec ASGI app vs "
                "FastAPI + pydantic under uvicorn, load from a process pinned to the other core) and the "
                "client scenarios (`EventClient` vs a raw `httpx.Client` loop, `AsyncEventClient` with 32 "
                "in flight vs a raw loop) plug in as `benchmarks/suite_server.py` and "
                "`benchmarks/suite_clients.py` (see `SUITES` in `benchmarks/run.py`). No figure is shown "
                "for them until those modules exist.\n"
            )
    return "\n".join(parts)
