"""A bill's stage from its whole classified history, with the action that set it and why.

The stage is where the bill stands *now*; ``furthest`` is the highest step it ever reached. Both are
needed because legislatures move bills back as well as forward:

- A terminal event (failed vote, death in a chamber or committee, withdrawal, veto) holds only until
  a later action revives the bill: a later passage or committee report, a re-referral, a
  reconsidered vote, a veto override. "A failure is final only if nothing later revives the bill."
- Two-year sessions restart a bill that died in the second chamber at the end of the first year:
  New York prints "died in assembly / returned to senate" and re-refers the bill in the Senate,
  which must pass it again. A referral to a committee of a chamber the bill had already passed,
  after the bill died or failed in another chamber, voids that passage: the stage follows the later
  actions (back to ``in_committee``) while ``furthest`` keeps what was reached. So does a bill
  "returned to <chamber> <committee>" (Washington returns bills to the house of origin's Rules
  Committee between the two years of a biennium).
- A reconsidered vote undoes the vote before it ("vote ... reconsidered", "motion to reconsider
  prevailed"); a motion to reconsider that was tabled, lost or only noticed changes nothing.
- A committee report that sends the bill on to another committee ("reported and committed to
  Finance", "reported favorably and re-referred to Appropriations") is committee passage plus
  referral: the ladder shows ``passed_committee`` while the bill sits in the next committee. A
  referral never moves a live bill back down the ladder; only a restart (above) does.
- Resolutions and memorials are not laws: a simple resolution adopted by its chamber, or a joint or
  concurrent resolution or memorial adopted by both chambers, ends as ``adopted`` and never as
  ``enacted`` (not even when a governor's signature is recorded). The kind comes from the bill's
  classification; the identifier's prefix (SR, HJR, SCR, SJM, ...) is the fallback when the
  classification says nothing more than "bill".
- ``dead`` is computed last: the session is over (``session_end < today``) and the bill got no
  further than its first chamber's floor, so nothing more can happen to it; ``furthest`` says how
  far it had got.

Where the action rules do not (yet) emit a class for a phrasing these rules need (reconsideration,
"reported and committed to", "returned to <chamber> ... committee"), the action's text is matched
here as a generic fallback; the regexes below name no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as date_cls
from typing import Any

from tracker.vocab import ALL_STAGES, BILL_LADDER, RESOLUTION_LADDERS

# Progress order of every non-terminal stage; "adopted" (resolutions) ranks after the governor's
# desk, which resolutions never reach, so a resolution's ladder is monotone too.
_LADDER = (
    "introduced",
    "in_committee",
    "passed_committee",
    "passed_one_chamber",
    "passed_both_chambers",
    "sent_to_governor",
    "adopted",
    "enacted",
)
_RANK = {stage: rank for rank, stage in enumerate(_LADDER)}
_CHAMBER_NAMES = {
    "upper": "the Senate",
    "lower": "the House",
    "legislature": "the Legislature",
    "joint": "a joint session",
    "executive": "the governor",
}
_CHAMBER_WORDS = {"senate": "upper", "house": "lower", "assembly": "lower"}
_COMMITTEE_PASS = frozenset({"committee-passage", "committee-passage-favorable"})
_PROGRESS = frozenset({"referral-committee", "passage"}) | _COMMITTEE_PASS
# a bill that reached the governor's desk may still be signed after sine die
_DEAD_BEFORE = _RANK["passed_both_chambers"]
# terminal stages a later referral or report revives (a veto needs an override)
_REVIVABLE = frozenset({"failed", "dead", "withdrawn"})
# "In committee upon adjournment": the session ended with the bill held in committee
_ADJOURNED = re.compile(r"adjourn|sine die|end of (the )?session|session end", re.IGNORECASE)
# "REPORTED AND COMMITTED TO FINANCE", "Reported favorably and re-referred to Appropriations"
_REPORTED_ON = re.compile(
    r"^\W*reported\b(?![^;]*\b(adversely|unfavorabl|without passage))[^;]*?"
    r"\b(committed|recommitted|re-?committed|referred|re-?referred)\b",
    re.IGNORECASE,
)
# "Vote on third reading will be reconsidered", "motion to reconsider prevailed"
_RECONSIDERED = re.compile(
    r"\breconsidered\b|\b(motion to reconsider|reconsideration)\b[^;]*"
    r"\b(prevailed|carried|adopted|agreed to|granted|passed)\b",
    re.IGNORECASE,
)
_NOT_RECONSIDERED = re.compile(
    r"\b(tabled|table|lost|failed|withdrawn|denied|rejected|not reconsidered|"
    r"notice of)\b",
    re.IGNORECASE,
)
# "By resolution, returned to Senate Rules Committee for third reading" (not NY's bare "returned to
# senate", which only echoes "died in assembly"; nor "returned to the Senate with amendments")
_RETURNED_TO = re.compile(
    r"\breturned to (the )?(?P<chamber>senate|house|assembly)\b[^;]*\bcommittee\b", re.IGNORECASE
)
_FLOOR_READING = re.compile(r"\b(second|third|2nd|3rd) reading\b", re.IGNORECASE)
# Identifier prefixes of resolutions and memorials used across the states (SR, HR, AR; SJR, HCR,
# ACR; SM, HJM; MT-style HJ): the fallback when a source classifies everything as "bill".
_JOINT_ID = re.compile(r"^[SHA](J|C|CON)(R|M|RES|MEM)?\d")
_SIMPLE_ID = re.compile(r"^[SHA](R|M|RES|MEM)\d")


@dataclass
class StageResult:
    stage: str
    date: str | None
    action_index: int | None
    reason: str
    furthest: str = "introduced"


@dataclass
class _Step:
    """A candidate stage and the action that justifies it. With ``description`` (an action's
    text) the reason is "<reason> on <date>: '<text>'", written only when asked: most steps
    are overtaken by later ones and never shown."""

    stage: str
    index: int | None
    date: str | None
    what: str
    chamber: str | None = None
    description: str | None = None

    @property
    def reason(self) -> str:
        if self.description is None:
            return self.what
        return f"{self.what} on {self.date or 'an unknown date'}: {_quote(self.description)}"


@dataclass
class _State:
    progress: _Step
    furthest: _Step
    terminal: _Step | None = None
    passed: list[str] = field(default_factory=list)  # chambers whose passage stands, in order
    overrides: set[str] = field(default_factory=set)
    # the state before each vote, so a reconsidered vote can be undone
    before_votes: list[tuple[_Step, _Step | None, list[str]]] = field(default_factory=list)


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


def resolution_kind(
    classification: Sequence[str] | None, identifier: str | None = None
) -> str | None:
    """ "simple" (one chamber adopts it: done), "joint" (both chambers adopt it: done, no governor)
    or None for bills. The classification decides; the identifier's prefix only when the
    classification names no kind beyond "bill" (many scrapers default every measure to "bill")."""
    kinds = {c.lower() for c in classification or ()}
    if any("resolution" in k or "memorial" in k or k == "constitutional amendment" for k in kinds):
        if kinds & {
            "joint resolution",
            "concurrent resolution",
            "joint memorial",
            "concurrent memorial",
            "constitutional amendment",
        }:
            return "joint"
        return "simple"
    if kinds - {"bill"}:
        return None
    compact = re.sub(r"[\s.\-]", "", identifier or "").upper()
    if _JOINT_ID.match(compact):
        return "joint"
    if _SIMPLE_ID.match(compact):
        return "simple"
    return None


def ladder(classification: Sequence[str] | None, identifier: str | None = None) -> tuple[str, ...]:
    """The steps a measure of this kind climbs: a bill's, or a resolution's (ending at adopted)."""
    kind = resolution_kind(classification, identifier)
    return BILL_LADDER if kind is None else RESOLUTION_LADDERS[kind]


def compute_stage(
    actions: Sequence[Any],
    *,
    bill_chamber: str | None = None,
    session_end: str | None = None,
    today: date_cls | None = None,
    bill_classification: Sequence[str] | None = None,
    identifier: str | None = None,
) -> StageResult:
    """The stage of a bill from its actions (objects or mappings with date, description,
    chamber, classification), in the order given; the result names the deciding action and the
    furthest stage ever reached."""
    ordered = sorted(range(len(actions)), key=list(map(_order_key, actions)).__getitem__)
    start = _Step("introduced", None, None, "Introduced; no actions recorded yet")
    state = _State(progress=start, furthest=start)
    resolution = resolution_kind(bill_classification, identifier)
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
        stage=step.stage,
        date=step.date,
        action_index=step.index,
        reason=step.reason,
        furthest=state.furthest.stage,
    )


# Within one day a bill is filed or introduced before anything else happens to it; sources list
# same-day actions in either order (Open States' Colorado data puts "Postpone Indefinitely"
# before "Introduced In House - Assigned to ..."), so those go first and the rest keep their order.
_FIRST_OF_DAY = frozenset({"filing", "introduction"})


def _order_key(action: Any) -> tuple[str, int]:
    get = action.get if type(action) is dict else lambda key: _get(action, key)
    first = not _FIRST_OF_DAY.isdisjoint(get("classification") or ())
    return ((get("date") or "")[:10], 0 if first else 1)


def _is_over(session_end: str | None, today: date_cls | None) -> bool:
    if not session_end:
        return False
    today = today or date_cls.today()
    return session_end[:10] < today.isoformat()


def _reach(state: _State, step: _Step) -> None:
    if _RANK[step.stage] > _RANK[state.furthest.stage]:
        state.furthest = step


def _advance(state: _State, step: _Step) -> None:
    """Move progress forward (never back); any forward move clears an earlier terminal event."""
    if _RANK[step.stage] > _RANK[state.progress.stage]:
        state.progress = step
        state.terminal = None
        _reach(state, step)
    elif _RANK[step.stage] == _RANK[state.progress.stage] and state.progress.index is None:
        state.progress = step


def _standing(state: _State) -> str:
    """The ladder step the chambers' standing passages give, for a bill back in committee."""
    if "legislature" in state.passed or len(state.passed) >= 2:
        return "passed_both_chambers"
    return "passed_one_chamber" if state.passed else "in_committee"


def _apply(
    state: _State, index: int, action: Any, *, bill_chamber: str | None, resolution: str | None
) -> None:
    get = action.get if type(action) is dict else lambda key: _get(action, key)
    kinds = set(get("classification") or ())
    description = get("description") or ""
    _text_fallbacks(kinds, description)
    if not kinds:
        return
    when = (get("date") or "")[:10] or None
    chamber = get("chamber") or None

    def step(stage: str, what: str) -> _Step:
        return _Step(stage, index, when, what, chamber, description)

    if "reconsidered" in kinds:
        _undo_last_vote(state)
        if _FLOOR_READING.search(description):  # "vote reconsidered - restored to third reading"
            _advance(state, step("passed_committee", "Vote reconsidered, back on the floor"))
    if "returned" in kinds:
        _returned(state, step, description)
    if kinds & {"introduction", "filing"}:
        _advance(state, step("introduced", "Introduced"))
    if "referral-committee" in kinds:
        _referral(state, step, chamber)
    if kinds & _COMMITTEE_PASS:
        _advance(state, step("passed_committee", "Passed committee"))
    if "passage" in kinds:
        _passage(state, step, chamber, bill_chamber=bill_chamber, resolution=resolution)
    if "enrolled" in kinds:
        _advance(state, step("passed_both_chambers", "Enrolled after passing both chambers"))
    if "executive-receipt" in kinds:
        _advance(state, step("sent_to_governor", "Sent to the governor"))
    if "veto-override-passage" in kinds:
        _override(state, step, chamber, resolution=resolution)
    _terminal(state, step, kinds, chamber, description=description, resolution=resolution)


def _text_fallbacks(kinds: set[str], description: str) -> None:
    """Classes the stage needs that the action rules may not emit; see the module docstring.
    ("reconsidered" and "returned" are internal to this module, not action classifications.)"""
    low = description.lower()
    # the usual action has none of the words every test below needs (a case-insensitive regex
    # cannot skip ahead to a literal: three substring tests of the lower-cased text cost less)
    if "reported" not in low and "reconsider" not in low and "returned to" not in low:
        return
    if "referral-committee" in kinds and "reported" in low and not kinds & _COMMITTEE_PASS:
        if _REPORTED_ON.search(description):
            kinds.add("committee-passage")
    if "reconsider" in low and _RECONSIDERED.search(low) and not _NOT_RECONSIDERED.search(low):
        kinds.add("reconsidered")
    if "returned to" in low and _RETURNED_TO.search(description):
        kinds.add("returned")


def _terminal(
    state: _State,
    step: Any,
    kinds: set[str],
    chamber: str | None,
    *,
    description: str,
    resolution: str | None,
) -> None:
    """Signature, veto, failure, withdrawal: a failed vote or withdrawal in an action that also
    refers or passes the bill ("failed; re-referred to committee") leaves it alive."""
    if kinds & {"executive-signature", "became-law"}:
        if resolution is not None:
            _advance(state, step("adopted", "Adopted (a resolution is not a law)"))
        else:
            what = "Signed by the governor" if "executive-signature" in kinds else "Became law"
            _advance(state, step("enacted", what))
        state.terminal = None
    elif "executive-veto" in kinds:
        state.terminal = step("vetoed", "Vetoed")
    elif "failure" in kinds and not kinds & _PROGRESS:
        _vote_snapshot(state)
        state.terminal = step("failed", f"Failed in {_chamber_name(chamber)}")
    elif "committee-failure" in kinds and not kinds & _COMMITTEE_PASS:
        # a deadline's "re-referred to Rules" is how some chambers kill a bill: still a failure
        if _ADJOURNED.search(description):
            state.terminal = step("dead", "Died in committee when the session ended")
        else:
            state.terminal = step("failed", "Failed in committee")
    elif "withdrawal" in kinds and not kinds & _PROGRESS:
        state.terminal = step("withdrawn", "Withdrawn")


def _vote_snapshot(state: _State) -> None:
    state.before_votes.append((state.progress, state.terminal, list(state.passed)))


def _undo_last_vote(state: _State) -> None:
    """A reconsidered vote: back to how the bill stood before the last floor vote."""
    if state.before_votes:
        state.progress, state.terminal, state.passed = state.before_votes.pop()


def _referral(state: _State, step: Any, chamber: str | None) -> None:
    """A referral moves a live bill no further back than it is; after a death or failure it
    revives the bill, and back in a chamber it had passed (the other chamber let it die) the
    bill starts over there."""
    terminal = state.terminal
    if terminal is None or terminal.stage not in _REVIVABLE:
        _advance(state, step("in_committee", "Referred to committee"))
        return
    if chamber in state.passed and terminal.chamber not in (None, chamber):
        del state.passed[state.passed.index(chamber) :]
        what = f"Referred to committee in {_chamber_name(chamber)} again after it died elsewhere"
    else:
        what = "Referred to committee again"
    state.terminal = None
    standing = _standing(state)
    if _RANK[standing] <= _RANK[state.progress.stage] and standing != "in_committee":
        return  # still where its standing passages put it (e.g. passed one chamber)
    state.progress = step(standing, what)


def _returned(state: _State, step: Any, description: str) -> None:
    """'Returned to <chamber> ... committee': the bill is back before that chamber, whose
    passage no longer stands; "for third reading" puts it after its committee reports."""
    found = _RETURNED_TO.search(description)
    chamber = _CHAMBER_WORDS[found.group("chamber").lower()] if found else None
    if chamber not in state.passed:
        return
    del state.passed[state.passed.index(chamber) :]
    state.terminal = None
    stage = "passed_committee" if _FLOOR_READING.search(description) else "in_committee"
    if state.passed:
        stage = _standing(state)
    state.progress = step(stage, f"Returned to {_chamber_name(chamber)}")


def _passage(
    state: _State,
    step: Any,
    chamber: str | None,
    *,
    bill_chamber: str | None,
    resolution: str | None,
) -> None:
    _vote_snapshot(state)
    if chamber in (None, "executive", "joint"):
        # unknown chamber: the first passage is the origin chamber, a later one the other
        chamber = (bill_chamber or "origin") if not state.passed else "second"
    if chamber not in state.passed:
        state.passed.append(chamber)
    both = chamber == "legislature" or len(state.passed) >= 2
    if resolution == "simple" or (resolution == "joint" and both):
        _advance(state, step("adopted", f"Adopted by {_chamber_name(chamber)}"))
    elif both:
        _advance(state, step("passed_both_chambers", f"Passed {_chamber_name(chamber)}"))
    else:
        _advance(state, step("passed_one_chamber", f"Passed {_chamber_name(chamber)}"))
    if state.terminal is not None and state.terminal.stage in _REVIVABLE:
        state.terminal = None  # passed after all (a failed vote reconsidered, a bill revived)


def _override(state: _State, step: Any, chamber: str | None, *, resolution: str | None) -> None:
    """A veto is overridden when both chambers (or a unicameral legislature) vote to override."""
    state.overrides.add(chamber or "legislature")
    complete = (
        bool(state.overrides & {"legislature", "joint"}) or {"upper", "lower"} <= state.overrides
    )
    if complete:
        _advance(state, step("adopted" if resolution else "enacted", "Veto overridden"))
        state.terminal = None
    elif state.terminal is not None and state.terminal.stage == "vetoed":
        s = step("vetoed", f"Veto overridden by {_chamber_name(chamber)}, not yet by both chambers")
        state.terminal = s
