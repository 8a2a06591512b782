"""Geometry of the wave chart: a server-rendered SVG, no JavaScript, no external assets.

One group per year: a bar of bills and, beside it, a hatched bar of resolutions and memorials,
each stacked by the furthest stage reached (bottom: introduced). Years the data does not cover get
a grey band, so a gap in the data never reads as a quiet year. The template
``site/_wave.html`` draws what :func:`chart` computes and repeats the numbers as tables.
"""

from __future__ import annotations

import math
from typing import Any

from tracker.vocab import STAGE_LABELS, TOPICS
from tracker.wave import KIND_LABELS, KINDS, LADDER, WAVE_TOPICS, Wave

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 34
MAX_YEAR_LABELS = 12
NICE_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def chart(w: Wave, *, prefix: str = "wave") -> dict[str, Any]:
    """Everything ``site/_wave.html`` needs: bars, axis ticks, the text alternative, tables."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    counts = {kind: w.counts(kind) for kind in KINDS}
    totals = [sum(counts[k][y].values()) for k in KINDS for y in w.years]
    top = nice_max(max(totals, default=0))
    scale = plot_h / top
    n = max(len(w.years), 1)
    group_w = plot_w / n
    bar_w = min(group_w * 0.4, 30.0)
    every = math.ceil(n / MAX_YEAR_LABELS)
    groups = []
    for i, year in enumerate(w.years):
        x0 = LEFT + i * group_w
        centre = x0 + group_w / 2
        bars = []
        for j, kind in enumerate(KINDS):
            x = centre - bar_w - 1 if j == 0 else centre + 1
            bars.append(_bar(counts[kind][year], kind=kind, year=year, x=x, w=bar_w, scale=scale))
        groups.append(
            {
                "year": year,
                "band_x": round(x0, 1),
                "band_w": round(group_w, 1),
                "label_x": round(centre, 1),
                "show_label": i % every == 0 or i == n - 1,
                "covered": bool(w.states_in(year)),
                "bars": bars,
            }
        )
    ticks = [{"y": round(TOP + plot_h - v * scale, 1), "value": v} for v in _tick_values(top)]
    return {
        "id": prefix,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": TOP + plot_h,
        "ticks": ticks,
        "groups": groups,
        "stages": w.stages_present(),
        "summary": summary(w),
        "coverage": w.coverage_text(),
        "stage_rows": _stage_rows(w, counts),
        "topic_rows": _topic_rows(w),
        "topics": [t for t in TOPICS if t in WAVE_TOPICS],
        "kind_labels": KIND_LABELS,
        "total": len(w.bills),
        "undated": w.undated(),
    }


def _bar(
    by_stage: dict[str, int], *, kind: str, year: int, x: float, w: float, scale: float
) -> dict[str, Any]:
    segments = []
    y: float = TOP + (HEIGHT - TOP - BOTTOM)
    for stage in LADDER:
        n = by_stage.get(stage, 0)
        if not n:
            continue
        h = n * scale
        y -= h
        label = f"{year}, {KIND_LABELS[kind].lower()}: {n} {STAGE_LABELS.get(stage, stage).lower()}"
        segments.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "w": round(w, 1),
                "h": round(h, 1),
                "stage": stage,
                "n": n,
                "label": label,
            }
        )
    return {"kind": kind, "total": sum(by_stage.values()), "segments": segments}


def nice_max(value: int) -> int:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten, whole)
    that is at least `value` (and at least 1), so the tallest bar fills most of the plot."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in NICE_STEPS:
        top = step * power
        if top >= value and float(top).is_integer():
            return int(top)
    return 10 * power


def _tick_values(top: int) -> list[int]:
    step = max(1, top // 5) if top <= 5 else nice_max(math.ceil(top / 5))
    return list(range(0, top + 1, step))


def summary(w: Wave) -> str:
    """The chart in one paragraph, for the SVG's description."""
    if not w.bills:
        return "No single-payer, study or public-option bills on file."
    first, last = w.years[0], w.years[-1]
    per_year = {y: 0 for y in w.years}
    for b in w.bills:
        if b.year is not None:
            per_year[b.year] += 1
    peak = max(per_year, key=lambda y: (per_year[y], y))
    resolutions = sum(1 for b in w.bills if b.kind == "resolution")
    gaps = [str(y) for y in w.years if not w.states_in(y)]
    when = f"in {first}" if first == last else f"from {first} to {last}"
    text = (
        f"{len(w.bills)} bills and resolutions {when}, "
        f"{resolutions} of them resolutions or memorials; the most in {peak} ({per_year[peak]})."
    )
    if gaps:
        text += f" No data on file for {', '.join(gaps)}."
    return text


def _stage_rows(w: Wave, counts: dict[str, dict[int, dict[str, int]]]) -> list[dict[str, Any]]:
    rows = []
    for year in w.years:
        if not w.states_in(year):
            continue
        for kind in KINDS:
            by_stage = counts[kind][year]
            if kind == "bill" or by_stage:
                rows.append(
                    {
                        "year": year,
                        "kind": KIND_LABELS[kind],
                        "stages": [by_stage.get(s, 0) for s in w.stages_present()],
                        "total": sum(by_stage.values()),
                    }
                )
    return rows


def _topic_rows(w: Wave) -> list[dict[str, Any]]:
    by_topic = w.topic_counts()
    return [
        {
            "year": year,
            "topics": [by_topic[year].get(t, 0) for t in TOPICS if t in WAVE_TOPICS],
            "states": [s.upper() for s in w.states_in(year)],
        }
        for year in w.years
    ]
