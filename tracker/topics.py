"""Is this a single-payer bill? Weighted, explainable evidence from ``config/topics.yaml``.

Every topic has weighted phrases (regular expressions, case-insensitive, matched on word
boundaries) and negative evidence. Three topics describe what a bill is about (``single-payer``,
``public-option``, ``coverage-expansion``); two refine one of those (``single-payer-study``: it
studies, designs or governs the system instead of creating it; ``resolution``: a resolution or
memorial about it). The result keeps every phrase that counted, so pages can say why.

Three decisions (:data:`DECISIONS`): ``yes`` (the bill is single-payer or its study, the
``relevant`` flag), ``possible`` (some single-payer evidence, below the bar: a programme name that
other states also use for Medicaid or state-employee plans, "health care for all" alone...; a
curator reviews it) and ``no``. Recall comes first: a missed bill is worse than one more to review.

Curators pin a bill's topic; a pin always wins and decides ``yes`` or ``no``. Pins shipped with
the rules live in ``config/overrides.yaml`` (hand-written, read-only in an installed wheel); the
reviews of a running site (``tracker topics review``, the web page ``/curate/``) go to
``curator_pins.yaml`` in ``TRACKER_DATA_DIR``, which a site can write and an upgrade keeps, and
win over a shipped pin of the same bill. Every reader (ingest, ``tracker topics classify`` and
``explain``, the review queue) gets both through :func:`get_classifier`, which notices a newer
pins file within :data:`PINS_RECHECK_SECONDS`.

Speed: every phrase has literal "triggers" (see :func:`tracker.actions.triggers_for`); a bill
whose text contains none of them is ``none`` after a few substring tests, which is what almost
every bill in a session is, and only phrases whose triggers occur are searched. Building the
classifier (every process that classifies does) parses each phrase's regex once: its triggers
come from the parse tree of the regex that is searched, and that tree is compiled
(:func:`tracker.actions.analyse_regex`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracker.actions import (
    _lowered,
    analyse_regex,
    most_selective,
    read_rules_yaml,
    summarize,
)
from tracker.identifiers import normalize_identifier
from tracker.paths import TOPICS_FILE
from tracker.vocab import STATE_NAMES, TOPICS

OVERRIDES_FILE = "overrides.yaml"
CURATOR_PINS_FILE = "curator_pins.yaml"  # in TRACKER_DATA_DIR: the reviews of a running site
PINS_RECHECK_SECONDS = 1.0
FIELDS = ("title", "description", "subjects", "text")
TEXT_LIMIT = 20_000  # bill text is long; its opening states what the bill does
DECISIONS: tuple[str, ...] = ("yes", "possible", "no")


class TopicConfigError(ValueError):
    """config/topics.yaml or config/overrides.yaml is invalid; the message names file and entry."""


@dataclass
class TopicResult:
    topic: str
    relevant: bool
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)
    decision: str = "no"  # yes (relevant) | possible (for a curator) | no

    def evidence_pinned(self) -> bool:
        return any(e.get("pinned") for e in self.evidence)


class Phrase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1)
    weight: float
    fields: list[str] = Field(default_factory=lambda: list(FIELDS))
    note: str | None = None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in FIELDS]
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; use {', '.join(FIELDS)}")
        return v


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    description: str = ""
    identifier: str | None = None


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = ""
    min_score: float = 3.0
    possible_score: float | None = None  # at least this (below min_score): decision `possible`
    refines: list[str] = Field(default_factory=list)
    base_min_score: float | None = None
    identifier_pattern: str | None = None
    identifier_weight: float = 0.0
    phrases: list[Phrase] = Field(default_factory=list)
    negative: list[Phrase] = Field(default_factory=list)
    examples: list[Example | str] = Field(default_factory=list)
    # what a staffer types to mean this topic; search only (tracker.search.topical)
    synonyms: list[str] = Field(default_factory=list)


class TopicsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field_weights: dict[str, float]
    topics: dict[str, TopicSpec]

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, v: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        unknown = [t for t in v if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic(s) {unknown}; see tracker.vocab.TOPICS")
        for name, spec in v.items():
            bad = [r for r in spec.refines if r not in v]
            if bad:
                raise ValueError(f"topic {name} refines unknown topic(s) {bad}")
        return v


class Pin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str
    session: str
    identifier: str
    topic: str
    reason: str = Field(min_length=1)
    reviewer: str | None = None
    reviewed: str | None = None  # ISO date of the review

    @field_validator("topic")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in TOPICS:
            raise ValueError(f"unknown topic {v!r}; use one of {', '.join(TOPICS)}")
        return v


# --- compiled form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    # searched in lower-cased text; word boundaries are checked in Python. Compiled from its parse
    # tree, so ``regex.pattern`` is None: `regex_source` is the regex (:func:`_source`)
    regex: re.Pattern[str]
    weight: float
    fields: frozenset[str]
    topic: str
    triggers: frozenset[str] | None  # literals one of which any match contains (None: unknown)
    requires: tuple[frozenset[str], ...]  # every literal requirement (all must hold)
    state_prefix: bool  # the pattern began with {state}: check for a state name before a match
    regex_source: str = ""  # the regex as compiled


_SPACE = r"[\s\-]+"
_STATE_NAMES = sorted((n.lower() for n in STATE_NAMES.values()), key=len, reverse=True)
_STATE_ALT = "|".join(re.escape(n).replace(r"\ ", _SPACE) for n in _STATE_NAMES)
# a state name (on a word boundary) right before the end of the searched window
_STATE_BEFORE = re.compile(rf"(?:^|(?<=[^\w-]))(?:{_STATE_ALT}){_SPACE}$")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# a state's name or a common short form of it, as the first half of one word: "CalCare",
# "ColoradoCare", "MassCare", "NYCare" (Medicaid names are built the same way: "TennCare")
_SHORT_FORMS = (
    "ala ariz ark cal calif colo conn del fla ill ind kan mass mich minn miss mont neb nev okla "
    "ore penn tenn tex wash wis wyo"
).split() + [code for code in STATE_NAMES if len(code) == 2]
_STATE_WORDS = sorted(
    {n.replace(" ", "") for n in _STATE_NAMES} | set(_SHORT_FORMS), key=len, reverse=True
)
_STATE_STEM = "(?:" + "|".join(_STATE_WORDS) + ")"
# the whole title is a name: only a lead-in before it and an act's usual tail after it
_TITLE_START = (
    r"^(?:(?:an )?act |a bill )?(?:for an act )?(?:relat\w* to |concerning |providing for |"
    r"regarding |to |for )?(?:(?:establish|creat|enact|develop|implement)\w* )?(?:the |a |an )?"
)
_TITLE_END = (
    r"(?: act)?(?: of \d{4})?(?:[;,] (?:and )?(?:declaring an emergency|prescribing an effective "
    r"date|appropriating money|making an appropriation|and money appropriated))*\.?$"
)


def _expand(pattern: str) -> str:
    """A space means spaces or hyphens ("health care" also matches "healthcare"); ``{state}`` stands for any US state name,
    ``{statestem}`` for a state's name or short form written as the start of a word, and
    ``{title_start}``/``{title_end}`` for the lead-in and tail around a title that is a name."""
    return (
        _lowered(pattern)
        .replace("health care", "health\0care")  # "healthcare" is the same words
        .replace(" ", _SPACE)
        .replace("\0", r"[\s\-]*")
        .replace("{state}", f"(?:{_STATE_ALT})")
        .replace("{statestem}", _STATE_STEM)
        .replace("{title_start}", _TITLE_START.replace(" ", _SPACE))
        .replace("{title_end}", _TITLE_END.replace(" ", _SPACE))
    )


def _source(pattern: str) -> str:
    """The regex of a phrase, for lower-cased text, with no leading look-behind, so the regex
    engine can skip ahead to the pattern's first literal (a leading 50-way state alternation would
    try every position). The trailing look-ahead makes the engine backtrack to a longer
    alternative ("healthcare" after "health") instead of returning a match that ends inside a
    word."""
    return f"(?:{_expand(pattern)})(?![a-z0-9_])"


def _find(
    phrase: _Phrase, text: str, taken: list[tuple[int, int]] | None
) -> tuple[int, int] | None:
    """The first word-bounded match not overlapping `taken` spans, as (start, end)."""
    pos = 0
    while True:
        found = phrase.regex.search(text, pos)
        if found is None:
            return None
        start, end = found.span()
        pos = start + 1
        if phrase.state_prefix:
            before = _STATE_BEFORE.search(text, max(0, start - 40), start)
            if before is None:
                continue
            start = before.start()
        if start > 0 and (text[start - 1] in _WORD or text[start - 1] == "-"):
            continue
        if end < len(text) and text[end] in _WORD:
            continue
        if taken and any(s < end and start < e for s, e in taken):
            continue
        return start, end


class TopicClassifier:
    """Compiled topic rules plus curator pins."""

    def __init__(self, config: TopicsConfig, pins: Sequence[Pin] = (), *, source: str = "") -> None:
        self.config = config
        self.source = source
        self.weights = {f: config.field_weights.get(f, 1.0) for f in FIELDS}
        self.specs = config.topics
        self.phrases: dict[str, list[_Phrase]] = {}
        self.negatives: dict[str, list[_Phrase]] = {}
        for name, spec in config.topics.items():
            # strongest first, so an overlapping weaker phrase cannot count the same words again
            self.phrases[name] = sorted(
                (self._phrase(p, name, source) for p in spec.phrases), key=lambda ph: -ph.weight
            )
            self.negatives[name] = [self._phrase(p, name, source) for p in spec.negative]
        self.identifier_res = {
            name: re.compile(spec.identifier_pattern, re.IGNORECASE)
            for name, spec in config.topics.items()
            if spec.identifier_pattern
        }
        self.base_topics = [t for t, spec in self.specs.items() if not spec.refines and t != "none"]
        # the cheap check: a bill with no literal of any positive phrase is `none` at once
        positive = [ph for t in self.base_topics for ph in self.phrases[t]]
        self._always_check = any(ph.triggers is None for ph in positive)
        self._triggers = tuple(sorted({t for ph in positive for t in ph.triggers or ()}))
        self.pins = {_pin_key(p.state, p.session, p.identifier): p for p in pins}

    @staticmethod
    def _phrase(p: Phrase, topic: str, source: str) -> _Phrase:
        pattern = p.pattern.strip()
        state_prefix = pattern.startswith("{state} ")
        if state_prefix:
            pattern = pattern[len("{state} ") :]
        regex_source = _source(pattern)
        try:
            # one parse: the regex and its literal requirements (the triggers are one of them)
            regex, required = analyse_regex(regex_source)
        except re.error as exc:
            raise TopicConfigError(
                f"{source}: topic {topic}: bad pattern {p.pattern!r}: {exc}"
            ) from exc
        return _Phrase(
            regex,
            p.weight,
            frozenset(p.fields),
            topic,
            most_selective(required),
            tuple(required),
            state_prefix,
            regex_source,
        )

    def classify(
        self,
        *,
        title: str,
        description: str = "",
        subjects: Sequence[str] = (),
        text: str | None = None,
        state: str | None = None,
        identifier: str | None = None,
        session: str | None = None,
    ) -> TopicResult:
        if state and session and identifier:
            pin = self.pins.get(_pin_key(state, session, identifier))
            if pin is not None:
                return _pinned(pin)
        original = {
            "title": title or "",
            "description": description or "",
            "subjects": "; ".join(subjects or ()),
            "text": (text or "")[:TEXT_LIMIT],
        }
        fields = {name: value.lower() for name, value in original.items()}
        present: frozenset[str] | None = None
        if not self._always_check:
            joined = "\n".join(fields.values())
            present = frozenset(t for t in self._triggers if t in joined)
            if not present:
                return TopicResult("none", False, 0.0, [], "no")
        # the original spellings ride along for the evidence text (no state on self: thread-safe)
        fields.update({f"original:{name}": value for name, value in original.items()})
        return self._score(fields, identifier or "", present)

    # -- scoring --------------------------------------------------------------------------------

    def _topic_score(
        self, topic: str, fields: dict[str, str], present: frozenset[str] | None
    ) -> tuple[float, list[dict[str, Any]]]:
        evidence: list[dict[str, Any]] = []
        taken: dict[str, list[tuple[int, int]]] = {f: [] for f in FIELDS}
        total = 0.0
        for phrase in self.phrases[topic]:
            if (
                present is not None
                and phrase.triggers is not None
                and present.isdisjoint(phrase.triggers)
            ):
                continue
            hit = self._best(phrase, fields, taken)
            if hit:
                total += hit["weight"]
                evidence.append(hit)
        if not evidence:
            return 0.0, evidence  # negative evidence only matters against positive evidence
        for phrase in self.negatives[topic]:
            hit = self._best(phrase, fields, None, negative=True)
            if hit:
                total += hit["weight"]
                evidence.append(hit)
        return total, evidence

    def _best(
        self,
        phrase: _Phrase,
        fields: dict[str, str],
        taken: dict[str, list[tuple[int, int]]] | None,
        *,
        negative: bool = False,
    ) -> dict[str, Any] | None:
        """The phrase's strongest occurrence over its fields, not overlapping a stronger phrase."""
        best: dict[str, Any] | None = None
        best_span: tuple[str, tuple[int, int]] | None = None
        for name in FIELDS:
            value = fields[name]
            if not value or name not in phrase.fields:
                continue
            magnitude = abs(phrase.weight) * self.weights[name]
            if best is not None and magnitude <= abs(best["weight"]):
                continue
            if not all(any(t in value for t in req) for req in phrase.requires):
                continue  # a literal the pattern needs is missing: no regex search at all
            span = _find(phrase, value, taken[name] if taken is not None else None)
            if span is None:
                continue
            best = {
                "phrase": _as_written(fields, name, span),
                "field": name,
                "weight": round(-magnitude if negative else magnitude, 3),
                "topic": phrase.topic,
            }
            best_span = (name, span)
        if best_span is not None and taken is not None:
            taken[best_span[0]].append(best_span[1])
        return best

    def negative_hit(self, topic: str, title: str) -> bool:
        """Does any negative phrase of `topic` match the title?"""
        fields = {name: "" for name in FIELDS} | {"title": (title or "").lower()}
        return any(self._best(ph, fields, None, negative=True) for ph in self.negatives[topic])

    def _score(
        self, fields: dict[str, str], identifier: str, present: frozenset[str] | None
    ) -> TopicResult:
        scored = {t: self._topic_score(t, fields, present) for t in self.base_topics}
        result = self._decide(scored, fields, identifier, present)
        result.decision = self._decision(result, scored, identifier)
        return result

    def _decide(
        self,
        scored: dict[str, tuple[float, list[dict[str, Any]]]],
        fields: dict[str, str],
        identifier: str,
        present: frozenset[str] | None,
    ) -> TopicResult:
        for topic in self.base_topics:  # config order is priority order
            score, evidence = scored[topic]
            refined = self._refine(topic, score, evidence, fields, identifier, present)
            if refined is not None:
                return refined
            if score >= self.specs[topic].min_score:
                return TopicResult(topic, topic in _relevant(), round(score, 3), evidence)
        evidence = [e for t in self.base_topics for e in scored[t][1]]
        best = max((scored[t][0] for t in self.base_topics), default=0.0)
        return TopicResult("none", False, round(max(best, 0.0), 3), evidence)

    def _decision(
        self,
        result: TopicResult,
        scored: dict[str, tuple[float, list[dict[str, Any]]]],
        identifier: str,
    ) -> str:
        """`yes` for a relevant topic; `possible` when a relevant topic's evidence reached its
        `possible_score` and the bill is not a resolution (by topic or by its number); else
        `no`."""
        if result.relevant:
            return "yes"
        if result.topic == "resolution" or (
            identifier and any(rx.search(identifier) for rx in self.identifier_res.values())
        ):
            return "no"
        for topic in self.base_topics:
            bar = self.specs[topic].possible_score
            if topic in _relevant() and bar is not None and scored[topic][0] >= bar:
                return "possible"
        return "no"

    def _refine(
        self,
        base: str,
        score: float,
        evidence: list[dict[str, Any]],
        fields: dict[str, str],
        identifier: str,
        present: frozenset[str] | None,
    ) -> TopicResult | None:
        """A refining topic (study, resolution) wins over its base when its own evidence is enough
        and the base has at least `base_min_score` (a study of a universal system need not
        describe the system as fully as a bill creating one)."""
        for topic, spec in self.specs.items():
            if base not in spec.refines:
                continue
            base_needed = (
                spec.base_min_score
                if spec.base_min_score is not None
                else self.specs[base].min_score
            )
            if score < base_needed:
                continue
            own, own_evidence = self._topic_score(topic, fields, None)
            id_re = self.identifier_res.get(topic)
            if id_re and identifier and id_re.search(identifier):
                own += spec.identifier_weight
                own_evidence.append(
                    {
                        "phrase": identifier,
                        "field": "identifier",
                        "weight": spec.identifier_weight,
                        "topic": topic,
                    }
                )
            if own >= spec.min_score:
                return TopicResult(
                    topic, topic in _relevant(), round(score + own, 3), evidence + own_evidence
                )
        return None


# --- lineage of names ---------------------------------------------------------------------------

# a programme a bill names: "(Green Mountain Care)", or capitalised words ending in a programme noun
_PROGRAMME = re.compile(
    r"\(([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){1,5})\)"
    r"|\b((?:[A-Z][\w'-]*\s+){1,4}(?:Care|Plan|Trust|Program|System))\b"
)
_GENERIC = frozenset(
    "a an the and of for act health healthcare care plan trust program system universal state "
    "single payer payor unified statewide public publicly financed funded medical affordable "
    "federal patient protection".split()
)
# a name followed by one of these is the agency, not the programme ("Green Mountain Care Board")
_AGENCY = r"(?![\s-]+(?:board|commission|authority|department|office|agency|division)\b)"


def programme_names(title: str) -> set[str]:
    """Names of programmes in a title, lower-cased, without the all-generic ones ("Unified Health
    System"): the words a state's later bills use for its single-payer programme."""
    names = set()
    for found in _PROGRAMME.finditer(title or ""):
        name = (found.group(1) or found.group(2)).lower()
        words = name.split()
        if len(words) >= 2 and any(w not in _GENERIC for w in words):
            names.add(name)
    return names


class NameLineage:
    """Programme names learned, state by state, from bills the rules decided single-payer `yes`;
    a bill of the same state that names one and is otherwise `no` becomes `possible` (never
    `yes`: "Green Mountain Care Board" bills regulate hospitals). No label is used, only the
    rules' own decisions, so it holds on states nobody labelled. Learn from every bill first,
    then apply."""

    def __init__(self, classifier: TopicClassifier) -> None:
        self.classifier = classifier
        self.names: dict[str, dict[str, str]] = {}  # state -> name -> the bill that named it
        self._compiled: dict[str, re.Pattern[str]] = {}

    def learn(self, *, state: str, identifier: str, title: str, result: TopicResult) -> None:
        if result.decision == "yes" and result.topic == "single-payer":
            known = self.names.setdefault(state.lower(), {})
            for name in programme_names(title):
                known.setdefault(name, identifier)
            self._compiled.pop(state.lower(), None)

    def _regex(self, state: str) -> re.Pattern[str] | None:
        names = self.names.get(state)
        if not names:
            return None
        if state not in self._compiled:
            alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
            self._compiled[state] = re.compile(rf"(?<!\w)({alternatives})(?!\w){_AGENCY}")
        return self._compiled[state]

    def apply(self, *, state: str, title: str, result: TopicResult) -> TopicResult:
        if result.decision != "no" or result.topic != "none" or result.evidence_pinned():
            return result
        regex = self._regex(state.lower())
        found = regex.search((title or "").lower()) if regex else None
        if found is None or self.classifier.negative_hit("single-payer", title):
            return result
        source = self.names[state.lower()][found.group(1)]
        result.decision = "possible"
        result.evidence.append(
            {
                "phrase": f"{found.group(1)} (the programme {source} created)",
                "field": "lineage",
                "weight": 0.0,
                "topic": "single-payer",
            }
        )
        return result


def _as_written(fields: dict[str, str], name: str, span: tuple[int, int]) -> str:
    """The matched words as written (when lower-casing kept the length) or else lower-cased."""
    lower = fields[name]
    original = fields.get(f"original:{name}", "")
    if len(original) == len(lower):
        return original[span[0] : span[1]]
    return lower[span[0] : span[1]]


def _relevant() -> frozenset[str]:
    from tracker.vocab import RELEVANT_TOPICS

    return RELEVANT_TOPICS


def _pin_key(state: str, session: str, identifier: str) -> tuple[str, str, str]:
    return (state.lower(), session.strip().lower(), normalize_identifier(identifier))


def _pinned(pin: Pin) -> TopicResult:
    evidence = [
        {
            "phrase": f"pinned by curator: {pin.reason}",
            "field": "override",
            "weight": 0.0,
            "topic": pin.topic,
            "pinned": True,
        }
    ]
    relevant = pin.topic in _relevant()
    return TopicResult(pin.topic, relevant, 0.0, evidence, "yes" if relevant else "no")


# --- loading -----------------------------------------------------------------------------------


def _config_dir() -> Path:
    from tracker.settings import get_settings

    return Path(get_settings().resolved_config_dir)


def _read(path: Path) -> Any:
    return read_rules_yaml(path, TopicConfigError)


def load_topics_config(path: Path) -> TopicsConfig:
    if not path.is_file():
        raise TopicConfigError(f"{path}: the topic rules file is missing")
    try:
        return TopicsConfig.model_validate(_read(path))
    except ValidationError as exc:
        raise TopicConfigError(f"{path}: invalid topic rules: {summarize(exc)}") from exc


def load_pins(path: Path) -> list[Pin]:
    """Curator pins: a list under ``pins`` (a missing file means no pins)."""
    if not path.is_file():
        return []
    data = _read(path) or {}
    raw = data.get("pins") or [] if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise TopicConfigError(f"{path}: expected a mapping with a 'pins' list")
    pins: list[Pin] = []
    for index, item in enumerate(raw):
        try:
            pins.append(Pin.model_validate(item))
        except ValidationError as exc:
            raise TopicConfigError(f"{path}: pin {index} is invalid: {summarize(exc)}") from exc
    return pins


def curator_pins_path() -> Path:
    """Where the reviews of this site are saved: ``curator_pins.yaml`` in the data folder."""
    from tracker.settings import get_settings

    return Path(get_settings().data_dir) / CURATOR_PINS_FILE


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=8)
def _load(config: Path, pins_path: Path, _pins_stamp: int) -> TopicClassifier:
    """The rules with the shipped pins, then the curator pins (a later pin of a bill wins);
    `_pins_stamp` is in the cache key so a newer pins file is read again."""
    topics_path = config / TOPICS_FILE
    pins = load_pins(config / OVERRIDES_FILE) + load_pins(pins_path)
    return TopicClassifier(load_topics_config(topics_path), pins, source=str(topics_path))


# (settings object, its classifier, pins stamp, when the stamp was read): one lookup per bill
_FAST: list[Any] = [None, None, 0, 0.0]


def get_classifier() -> TopicClassifier:
    """The classifier for the configured config folder and curator pins (cached per settings
    object; a changed pins file is seen within :data:`PINS_RECHECK_SECONDS`)."""
    from tracker.settings import get_settings

    settings = get_settings()
    now = time.monotonic()
    if _FAST[0] is settings and now - _FAST[3] < PINS_RECHECK_SECONDS:
        return _FAST[1]
    pins_path = curator_pins_path()
    stamp = _stamp(pins_path)
    if _FAST[0] is not settings or stamp != _FAST[2]:
        _FAST[0], _FAST[1], _FAST[2] = settings, _load(_config_dir(), pins_path, stamp), stamp
    _FAST[3] = now
    return _FAST[1]


def all_pins() -> list[Pin]:
    """Every pin in force: shipped ones and this site's reviews (one per bill, a review wins)."""
    return list(get_classifier().pins.values())


def clear_cache() -> None:
    _load.cache_clear()
    _FAST[:] = [None, None, 0, 0.0]


def classify_topic(
    *,
    title: str,
    description: str = "",
    subjects: Sequence[str] = (),
    text: str | None = None,
    state: str | None = None,
    identifier: str | None = None,
    session: str | None = None,
) -> TopicResult:
    """The topic of one bill with the evidence for it; a curator's pin wins."""
    return get_classifier().classify(
        title=title,
        description=description,
        subjects=subjects,
        text=text,
        state=state,
        identifier=identifier,
        session=session,
    )
