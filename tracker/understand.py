"""Understanding a bill, in one place: classify its actions, derive its stage and topic.

Ingest calls it once per bill it writes; the commands that print a parsed bill
(``tracker scrapers parse``/``check``) call :func:`understood` for the same answers. Scrapers and
importers only read what a source says.

The rules themselves live in :mod:`tracker.actions`, :mod:`tracker.stages` and
:mod:`tracker.topics`; this module only shapes a bill's data for them and their answers for
the ``bill`` table.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tracker.actions import load_rules
from tracker.scraped import ScrapedBill
from tracker.stages import StageResult, compute_stage
from tracker.topics import classify_topic


def classified_actions(bill: ScrapedBill) -> list[dict[str, Any]]:
    """The bill's actions as rows, in order, each with the source's own classifications plus
    what our rules read in its words: sources label unevenly (Open States' Washington data never
    labels "Third reading, passed" as passage, nor "First reading, referred to ..." as a
    referral), and a stage read from half-labelled actions stalls at "introduced"."""
    rows = []
    classify = load_rules(bill.state).classify  # what classify_action does, looked up once
    for a in bill.actions:
        ours = classify(a.description, a.chamber)
        classification = (
            list(dict.fromkeys([*a.classification, *ours])) if a.classification else ours
        )
        rows.append(
            {
                "date": a.date,
                "description": a.description,
                "chamber": a.chamber,
                "committee": a.committee,
                "classification": classification,
            }
        )
    return rows


def stage_of(
    bill: ScrapedBill,
    actions: list[dict[str, Any]],
    *,
    session_end: str | None,
    today: date | None = None,
) -> StageResult:
    """The bill's stage by these (classified) actions."""
    return compute_stage(
        actions,
        bill_chamber=bill.chamber,
        session_end=session_end,
        today=today,
        bill_classification=list(bill.classification),
        identifier=bill.identifier,
    )


def understood(
    bill: ScrapedBill, *, session_end: str | None, today: date | None = None
) -> ScrapedBill:
    """The bill with our classifications filled into its actions and its stage set, by the
    same rules ingest applies: what ``tracker scrapers parse`` prints for a saved page."""
    actions = classified_actions(bill)
    for action, row in zip(bill.actions, actions, strict=True):
        action.classification = row["classification"]
    bill.stage = stage_of(bill, actions, session_end=session_end, today=today).stage
    return bill


def bill_facts(
    bill: ScrapedBill,
    actions: list[dict[str, Any]],
    *,
    session_end: str | None,
    title: str | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Stage, topic and latest action for the ``bill`` row."""
    stage = stage_of(bill, actions, session_end=session_end, today=today)
    description = " ".join(a.abstract for a in bill.abstracts)
    topic = classify_topic(
        title=title if title is not None else bill.title,
        description=description,
        subjects=bill.subject,
        text=bill.text,
        state=bill.state,
        identifier=bill.identifier,
        session=bill.legislative_session,
    )
    latest = max(actions, key=lambda a: a["date"], default=None) if actions else None
    return {
        "stage": stage.stage,
        "stage_date": stage.date,
        "stage_reason": {"reason": stage.reason, "action_index": stage.action_index},
        "furthest_stage": stage.furthest,
        "topic": topic.topic,
        "topic_score": topic.score,
        "topic_evidence": topic.evidence,
        "topic_pinned": any(e.get("pinned") for e in topic.evidence),
        "topic_decision": topic.decision,
        "relevant": topic.relevant,
        "latest_action_date": latest["date"] if latest else None,
        "latest_action_description": latest["description"] if latest else None,
    }
