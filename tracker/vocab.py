"""The project's vocabularies, in one place: action classifications, stages, topics, changes.

Action classifications are Open States' (see openstates-core ``common.py``); everything else in
the project imports these names instead of spelling strings again.
"""

from __future__ import annotations

ACTION_CLASSIFICATIONS: tuple[str, ...] = (
    "filing",
    "introduction",
    "reading-1",
    "reading-2",
    "reading-3",
    "referral",
    "referral-committee",
    "committee-passage",
    "committee-passage-favorable",
    "committee-passage-unfavorable",
    "committee-failure",
    "hearing-held",
    "passage",
    "failure",
    "withdrawal",
    "substitution",
    "amendment-introduction",
    "amendment-passage",
    "amendment-failure",
    "amendment-amendment",
    "amendment-withdrawal",
    "amendment-deferral",
    "concurrence",
    "deferral",
    "receipt",
    "enrolled",
    "executive-receipt",
    "executive-signature",
    "executive-veto",
    "executive-veto-line-item",
    "became-law",
    "veto-override-passage",
    "veto-override-failure",
    "carried-over",
    "postponed",
    "study",
)

# Progress stages in order of meaning. "adopted" ends a resolution or memorial (not a law; see
# tracker/stages.py): a bill never reaches it and a resolution never reaches the governor's steps.
STAGES: tuple[str, ...] = (
    "introduced",
    "in_committee",
    "passed_committee",
    "passed_one_chamber",
    "passed_both_chambers",
    "sent_to_governor",
    "adopted",
    "enacted",
)
TERMINAL_STAGES: tuple[str, ...] = ("vetoed", "failed", "dead", "withdrawn")
ALL_STAGES: tuple[str, ...] = STAGES + TERMINAL_STAGES
# The steps a bill climbs, and those a resolution climbs (simple: one chamber adopts it; joint:
# both chambers do, and no governor acts on it).
BILL_LADDER: tuple[str, ...] = tuple(s for s in STAGES if s != "adopted")
RESOLUTION_LADDERS: dict[str, tuple[str, ...]] = {
    "simple": ("introduced", "in_committee", "passed_committee", "adopted"),
    "joint": ("introduced", "in_committee", "passed_committee", "passed_one_chamber", "adopted"),
}
# Stages that mean a law was made: only these count as enacted in maps, digests and counts.
LAW_STAGES: frozenset[str] = frozenset({"enacted"})
STAGE_LABELS: dict[str, str] = {
    "introduced": "Introduced",
    "in_committee": "In committee",
    "passed_committee": "Passed committee",
    "passed_one_chamber": "Passed one chamber",
    "passed_both_chambers": "Passed both chambers",
    "sent_to_governor": "Sent to governor",
    "adopted": "Adopted (resolution)",
    "enacted": "Enacted",
    "vetoed": "Vetoed",
    "failed": "Failed",
    "dead": "Died",
    "withdrawn": "Withdrawn",
}


def stage_text(stage: str | None, furthest: str | None = None) -> str:
    """A stage's label, with the furthest step reached beside it when the bill has ended or
    fallen back: "Died (furthest: passed one chamber)"."""
    label = STAGE_LABELS.get(stage or "", stage or "Unknown")
    if not furthest or furthest == stage or furthest == "introduced":
        return label
    if furthest not in STAGES or (
        stage in STAGES and STAGES.index(furthest) <= STAGES.index(stage)
    ):
        return label
    return f"{label} (furthest: {STAGE_LABELS.get(furthest, furthest).lower()})"


TOPICS: tuple[str, ...] = (
    "single-payer",
    "single-payer-study",
    "public-option",
    "coverage-expansion",
    "resolution",
    "none",
)
RELEVANT_TOPICS: frozenset[str] = frozenset({"single-payer", "single-payer-study"})
TOPIC_LABELS: dict[str, str] = {
    "single-payer": "Single-payer / universal system",
    "single-payer-study": "Single-payer study or governance",
    "public-option": "Public option",
    "coverage-expansion": "Coverage expansion",
    "resolution": "Resolution or memorial",
    "none": "Not single-payer",
}

CHAMBERS: tuple[str, ...] = ("upper", "lower", "legislature", "executive", "joint")

# How a run ended (the ``run`` table's status; tracker.runs decides it). ``running`` while it
# runs; ``interrupted`` is reserved for a run its process never finished.
RUN_STATUSES: tuple[str, ...] = ("running", "ok", "partial", "empty", "failed", "interrupted")
# A source may also not run at all: ``skipped`` (no key, no config, no files) or stop on a spent
# ``quota``; its run row then says ``ok`` or ``partial`` (see tracker.runs.run_status_of).
SOURCE_STATUSES: tuple[str, ...] = ("ok", "partial", "empty", "skipped", "quota", "failed")
# Run kinds, and the source name of a state's scheduled scrape job (what health and alerts read).
RUN_KINDS: tuple[str, ...] = ("scrape", "import", "api", "bulk", "job")
JOB_KIND = "job"
SCRAPE_SOURCE = "job:scrape:{state}"

# Kinds of `change` rows written by ingest and the understanding steps.
CHANGE_KINDS: tuple[str, ...] = (
    "bill_new",
    "field_changed",  # field names the column: title, abstracts, subjects, ...
    "action_new",
    "action_removed",
    "sponsor_added",
    "sponsor_removed",
    "version_new",
    "document_new",
    "hearing_scheduled",
    "hearing_changed",
    "hearing_removed",
    "vote_new",
    "stage_changed",
    "topic_changed",
    "became_relevant",
)

STATE_NAMES: dict[str, str] = {
    "al": "Alabama",
    "ak": "Alaska",
    "az": "Arizona",
    "ar": "Arkansas",
    "ca": "California",
    "co": "Colorado",
    "ct": "Connecticut",
    "de": "Delaware",
    "dc": "District of Columbia",
    "fl": "Florida",
    "ga": "Georgia",
    "hi": "Hawaii",
    "id": "Idaho",
    "il": "Illinois",
    "in": "Indiana",
    "ia": "Iowa",
    "ks": "Kansas",
    "ky": "Kentucky",
    "la": "Louisiana",
    "me": "Maine",
    "md": "Maryland",
    "ma": "Massachusetts",
    "mi": "Michigan",
    "mn": "Minnesota",
    "ms": "Mississippi",
    "mo": "Missouri",
    "mt": "Montana",
    "ne": "Nebraska",
    "nv": "Nevada",
    "nh": "New Hampshire",
    "nj": "New Jersey",
    "nm": "New Mexico",
    "ny": "New York",
    "nc": "North Carolina",
    "nd": "North Dakota",
    "oh": "Ohio",
    "ok": "Oklahoma",
    "or": "Oregon",
    "pa": "Pennsylvania",
    "pr": "Puerto Rico",
    "ri": "Rhode Island",
    "sc": "South Carolina",
    "sd": "South Dakota",
    "tn": "Tennessee",
    "tx": "Texas",
    "ut": "Utah",
    "vt": "Vermont",
    "va": "Virginia",
    "wa": "Washington",
    "wv": "West Virginia",
    "wi": "Wisconsin",
    "wy": "Wyoming",
    "us": "United States",
}


def state_name(code: str) -> str:
    return STATE_NAMES.get(code.lower(), code.upper())


# A digest subscriber's status (tracker.subscription_models); here so the CLI's help need not
# load the database models.
SUBSCRIBER_STATUSES: tuple[str, ...] = ("pending", "confirmed", "unsubscribed", "bouncing")
