"""A bill's stage from its classified actions, with the action that set it and why.

Progress only moves forward (``introduced`` .. ``enacted``); a terminal event (veto, failed vote,
withdrawal) holds until a later action shows the bill moving again (a reconsidered vote, a veto
override). ``dead`` is computed last: the session is over (``session_end < today``) and the bill got
no further than its first chamber's floor, so nothing more can happen to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as date_cls
from typing import Any

from tracker.vocab import ALL_STAGES, STAGES

_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
_CHAMBER_NAMES = {
    "upper": "the Senate",
    "lower": "the House",
    "legislature": "the Legislature",
    "joint": "a joint session",
    "executive": "the governor",
}
_COMMITTEE_PASS = ("committee-passage", "committee-passage-favorable")
# a bill that reached the governor's desk may still be signed after sine die
_DEAD_BEFORE = _RANK["passed_both_chambers"]
# "In committee upon adjournment": the session ended with the bill held in committee
_ADJOURNED = re.compile(r"adjourn|sine die|end of (the )?session|session end", re.IGNORECASE)


@dataclass
class StageResult:
    stage: str
    date: str | None
    action_index: int | None
    reason: str


@dataclass
class _Step:
    """A candidate stage and the action that justifies it."""

    stage: str
    index: int | None
    date: str | None
    reason: str


@dataclass
class _State:
    progress: _Step
    terminal: _Step | None = None
    passed: list[str] = field(default_factory=list)  # chambers of passage, in order
    vetoed: bool = False
    overrides: set[str] = field(default_factory=set)


def _get(action: Any, key: str) -> Any:
    if type(action) is dict:  # the common case (ingest's rows), before the slower ABC check
        return action.get(key)
    if isinstance(action, Mapping):
        return action.get(key)
    return getattr(action, key, None)


def _quote(text: str, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _chamber_name(chamber: str | None) -> str:
    return _CHAMBER_NAMES.get(chamber or "", "a chamber")


def _resolution_kind(classification: Sequence[str] | None) -> str | None:
    """ "simple" (one chamber adopts it: done), "joint" (both chambers adopt it: done, no governor)
    or None for bills and anything else that goes to the governor."""
    kinds = {c.lower() for c in classification or ()}
    if "bill" in kinds or not any("resolution" in k or "memorial" in k for k in kinds):
        return None
    if kinds & {
        "joint resolution",
        "concurrent resolution",
        "joint memorial",
        "concurrent memorial",
        "constitutional amendment",
    }:
        return "joint"
    return "simple"


def compute_stage(
    actions: Sequence[Any],
    *,
    bill_chamber: str | None = None,
    session_end: str | None = None,
    today: date_cls | None = None,
    bill_classification: Sequence[str] | None = None,
) -> StageResult:
    """The stage of a bill from its actions (objects or mappings with date, description,
    chamber, classification), in the order given; the result names the deciding action."""
    ordered = sorted(range(len(actions)), key=lambda i: (_get(actions[i], "date") or "")[:10])
    start = _Step("introduced", None, None, "Introduced; no actions recorded yet")
    state = _State(progress=start)
    resolution = _resolution_kind(bill_classification)
    for index in ordered:
        _apply(state, index, actions[index], bill_chamber=bill_chamber, resolution=resolution)
    step = state.terminal or state.progress
    if state.terminal is None and _is_over(session_end, today) and _RANK[step.stage] < _DEAD_BEFORE:
        step = _Step(
            "dead",
            step.index,
            session_end,
            f"Session ended on {session_end} without enactment; last step: {step.reason}",
        )
    assert step.stage in ALL_STAGES
    return StageResult(
        stage=step.stage, date=step.date, action_index=step.index, reason=step.reason
    )


def _is_over(session_end: str | None, today: date_cls | None) -> bool:
    if not session_end:
        return False
    today = today or date_cls.today()
    return session_end[:10] < today.isoformat()


def _advance(state: _State, step: _Step) -> None:
    """Move progress forward (never back); any forward move clears an earlier terminal event."""
    if _RANK[step.stage] > _RANK[state.progress.stage]:
        state.progress = step
        state.terminal = None
    elif _RANK[step.stage] == _RANK[state.progress.stage] and state.progress.index is None:
        state.progress = step


def _apply(
    state: _State, index: int, action: Any, *, bill_chamber: str | None, resolution: str | None
) -> None:
    kinds = set(_get(action, "classification") or ())
    if not kinds:
        return
    when = (_get(action, "date") or "")[:10] or None
    text = _quote(_get(action, "description") or "")
    chamber = _get(action, "chamber") or None

    def step(stage: str, what: str) -> _Step:
        return _Step(stage, index, when, f"{what} on {when or 'an unknown date'}: {text}")

    if kinds & {"introduction", "filing"}:
        _advance(state, step("introduced", "Introduced"))
    if "referral-committee" in kinds:
        _advance(state, step("in_committee", "Referred to committee"))
    if kinds & set(_COMMITTEE_PASS):
        _advance(state, step("passed_committee", "Passed committee"))
    if "passage" in kinds:
        _passage(state, step, chamber, bill_chamber=bill_chamber, resolution=resolution)
    if "enrolled" in kinds:
        _advance(state, step("passed_both_chambers", "Enrolled after passing both chambers"))
    if "executive-receipt" in kinds:
        _advance(state, step("sent_to_governor", "Sent to the governor"))
    if "veto-override-passage" in kinds:
        _override(state, step, chamber)
    if kinds & {"executive-signature", "became-law"}:
        what = "Signed by the governor" if "executive-signature" in kinds else "Became law"
        _advance(state, step("enacted", what))
        state.terminal = None
    elif "executive-veto" in kinds:
        state.vetoed = True
        state.terminal = step("vetoed", "Vetoed")
    elif "failure" in kinds and "passage" not in kinds:
        state.terminal = step("failed", f"Failed in {_chamber_name(chamber)}")
    elif "committee-failure" in kinds and not kinds & set(_COMMITTEE_PASS):
        if _ADJOURNED.search(_get(action, "description") or ""):
            state.terminal = step("dead", "Died in committee when the session ended")
        else:
            state.terminal = step("failed", "Failed in committee")
    elif "withdrawal" in kinds:
        state.terminal = step("withdrawn", "Withdrawn")


def _passage(
    state: _State,
    step: Any,
    chamber: str | None,
    *,
    bill_chamber: str | None,
    resolution: str | None,
) -> None:
    if chamber in (None, "executive", "joint"):
        # unknown chamber: the first passage is the origin chamber, a later one the other
        chamber = (bill_chamber or "origin") if not state.passed else "second"
    if chamber not in state.passed:
        state.passed.append(chamber)
    both = chamber == "legislature" or len(state.passed) >= 2
    if resolution == "simple" or (resolution == "joint" and both):
        _advance(state, step("enacted", f"Adopted by {_chamber_name(chamber)}"))
    elif both:
        _advance(state, step("passed_both_chambers", f"Passed {_chamber_name(chamber)}"))
    else:
        _advance(state, step("passed_one_chamber", f"Passed {_chamber_name(chamber)}"))


def _override(state: _State, step: Any, chamber: str | None) -> None:
    """A veto is overridden when both chambers (or a unicameral legislature) vote to override."""
    state.overrides.add(chamber or "legislature")
    complete = (
        bool(state.overrides & {"legislature", "joint"}) or {"upper", "lower"} <= state.overrides
    )
    if complete:
        _advance(state, step("enacted", "Veto overridden"))
        state.terminal = None
    elif state.terminal is not None and state.terminal.stage == "vetoed":
        s = step("vetoed", f"Veto overridden by {_chamber_name(chamber)}, not yet by both chambers")
        state.terminal = s
