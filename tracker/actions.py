"""Action classification: raw action text -> Open States classifications, from data-only rules.

Rules live in YAML, never in per-state Python:

- ``config/actions.yaml`` (key ``rules``): the shared defaults every state gets;
- ``config/states/<st>.yaml`` (key ``action_rules``, optional ``action_rules_replace_defaults``)
  and ``config/action_rules/<st>.yaml`` (key ``rules``): a state's own idioms, tried first.

A rule's ``pattern`` is a case-insensitive regular expression in which a literal space means
"any run of whitespace". Every rule that matches adds its classifications, in rule order, until a
matching rule has ``stop: true``. A rule with ``actor`` only applies to actions of that chamber.

Speed: each rule gets a set of literal "triggers" derived from its pattern (one of them must occur
in any text the pattern matches), so most rules are skipped with a substring test instead of a
regex search; results are cached per (chamber, lower-cased text). Building a rule set is paid by
every process that classifies, and most of it is the stdlib's pure-Python regex parser, so each
top-level alternative is parsed once: its literal requirements come from the parse tree of the
very regex that is matched, and that tree is compiled (:func:`analyse_regex`). The whole pattern,
case-insensitive, is only needed by ``explain`` and is compiled on first use
(:attr:`_Compiled.regex`); loading still rejects an invalid pattern (:func:`check_pattern`).
"""

from __future__ import annotations

import importlib
import re
import re._parser as sre_parse  # the stdlib's own regex parser, to derive literal triggers
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracker.settings import get_settings
from tracker.vocab import ACTION_CLASSIFICATIONS, CHAMBERS

DEFAULTS_FILE = "actions.yaml"
STATE_RULES_DIR = "action_rules"
_CACHE_SIZE = 65536
_PATTERN_CACHE_SIZE = 4096  # distinct rule patterns whose analysed alternatives are kept
# The stdlib's regex compiler: given a parse tree instead of a string it skips the parsing (what
# re.compile runs after parsing). Imported by name: typeshed has no stub for re._compiler.
_compiler: Any = importlib.import_module("re._compiler")
_compile_tree: Callable[[Any, int], re.Pattern[str]] = _compiler.compile
_WORDS = re.compile(r"[a-z]+")


class RuleError(ValueError):
    """A rule file or rule is invalid; the message names the file and the rule index."""


class Rule(BaseModel):
    """One row of a rule table."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pattern: str = Field(min_length=1)
    classifications: list[str] = Field(default_factory=list)
    stop: bool = False
    actor: str | None = None
    examples: list[str] = Field(default_factory=list)
    id: str | None = None
    note: str | None = None

    @field_validator("classifications")
    @classmethod
    def _known_classifications(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in ACTION_CLASSIFICATIONS]
        if unknown:
            raise ValueError(f"unknown classification(s) {unknown}; see tracker.vocab")
        return v

    @field_validator("actor")
    @classmethod
    def _known_actor(cls, v: str | None) -> str | None:
        if v is not None and v not in CHAMBERS:
            raise ValueError(f"actor {v!r} is not one of {', '.join(CHAMBERS)}")
        return v

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        check_pattern(v)
        return v


@dataclass(frozen=True)
class Match:
    """Why a rule fired: for ``tracker actions explain`` and debugging rule tables."""

    file: str
    index: int
    rule_id: str | None
    pattern: str
    matched: str
    classifications: tuple[str, ...]
    stop: bool
    actor: str | None


@dataclass(frozen=True)
class _Branch:
    """One top-level alternative of a rule's pattern, with the literals one of which must occur."""

    # compiled from its parse tree, so ``regex.pattern`` is None: `regex_source` is what it matches
    regex: Searcher
    triggers: frozenset[str] | None  # None: no literal could be derived, always try it
    requires: tuple[frozenset[str], ...] = ()  # every literal requirement (one of each occurs)
    regex_source: str = ""  # the regex, as compiled (for lower-cased text)


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    file: str
    index: int
    branches: tuple[_Branch, ...]  # the top-level alternatives, for lower-cased text (fast path)

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The whole pattern, case-insensitive, for any text (``explain``): compiled on first use;
        the fast path only runs the branches."""
        return compile_pattern(self.rule.pattern)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile case-insensitively, a literal space (outside ``[...]``) meaning ``\\s+``."""
    return re.compile(_flex_spaces(pattern), re.IGNORECASE)


def _lowered(pattern: str) -> str:
    """The pattern for lower-cased text: literals lower-cased, escapes (``\\S``, ``\\W``) kept."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        out.append(ch if escaped else ch.lower())
        escaped = not escaped and ch == "\\"
    return "".join(out)


def split_alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a pattern (outside groups and classes)."""
    parts: list[str] = []
    depth = 0
    in_class = escaped = False
    start = 0
    for pos, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:pos])
            start = pos + 1
    parts.append(pattern[start:])
    return parts


class _AlternativeError(re.error):
    """A top-level alternative of a pattern does not compile on its own."""

    def __init__(self, part: str, exc: re.error) -> None:
        super().__init__(str(exc))
        self.part = part
        self.cause = exc


@lru_cache(maxsize=_PATTERN_CACHE_SIZE)
def _branches(pattern: str) -> tuple[_Branch, ...]:
    """Each top-level alternative compiled for lower-cased text, with its literal requirements.

    Each alternative is parsed once (:func:`analyse_regex`). Cached per pattern: the validator
    (:func:`check_pattern`) and :func:`parse_rules` share the work, and so do rule sets of
    several states with the same rule. Raises :class:`_AlternativeError`.
    """
    out = []
    for part in split_alternatives(pattern):
        source = _flex_spaces(_lowered(part))
        try:
            regex, required = analyse_search(source)
        except re.error as exc:
            raise _AlternativeError(part, exc) from exc
        out.append(_Branch(regex, most_selective(required), tuple(required), source))
    return tuple(out)


# What can make the whole pattern invalid while every alternative compiles on its own: inline
# flags (global ones must start the whole pattern), group names, references and conditionals
# (which see the groups of other alternatives), comments, \N{...} (its name is lower-cased for
# the branches) and a class opening with "]" (split_alternatives would cut it differently).
# A pattern without any of these is parsed as a whole only by `explain`.
_CONTEXTUAL = re.compile(r"\(\?(?![:=!>]|<[=!])|\\[1-9N]|\[\^?\]")


def check_pattern(pattern: str) -> None:
    """Raise ValueError unless the pattern, and each of its top-level alternatives alone (the fast
    path matches them separately), compile. Parses each alternative once, cached for
    :func:`parse_rules`; the whole pattern is compiled too when one alternative fails (for the
    error) or when the pattern has a construct that depends on the other alternatives."""
    try:
        _branches(pattern)
    except _AlternativeError as exc:
        _check_whole(pattern)
        raise ValueError(
            f"pattern {pattern!r}: its alternative {exc.part!r} is not a valid regular "
            f"expression on its own (each top-level alternative is matched separately, in "
            f"lower-cased text): {exc.cause}"
        ) from exc
    if _CONTEXTUAL.search(pattern):
        _check_whole(pattern)


def _check_whole(pattern: str) -> None:
    try:
        compile_pattern(pattern)  # re's own cache keeps it for `explain`
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc


def _flex_spaces(pattern: str) -> str:
    out: list[str] = []
    in_class = escaped = False
    prev_space = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = prev_space = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            prev_space = False
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
            continue
        if ch == "[":
            in_class = True
        if ch == " ":
            if not prev_space:
                out.append(r"\s+")
            prev_space = True
            continue
        prev_space = False
        out.append(ch)
    return "".join(out)


# --- literal triggers --------------------------------------------------------------------------

_LITERAL = sre_parse.LITERAL
_SUBPATTERN = sre_parse.SUBPATTERN
_BRANCH = sre_parse.BRANCH
_REPEATS = (
    sre_parse.MAX_REPEAT,
    sre_parse.MIN_REPEAT,
    getattr(sre_parse, "POSSESSIVE_REPEAT", None),
)
_ZERO_WIDTH = (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT)


def triggers_for(pattern: str) -> frozenset[str] | None:
    """Literal strings, one of which occurs (lower-cased) in any text the pattern matches.

    The most selective of :func:`required_literals`; ``None`` when none can be derived (the rule
    is then always tried).
    """
    return most_selective(required_literals(pattern))


def most_selective(required: Sequence[frozenset[str]]) -> frozenset[str] | None:
    """The requirement :func:`triggers_for` picks among these :func:`required_literals` (for a
    caller that keeps them all: the pattern is analysed once)."""
    return max(required, key=_selectivity) if required else None


def required_literals(pattern: str) -> list[frozenset[str]]:
    """Every requirement the pattern imposes: for each set, one of its strings occurs (lower-cased)
    in any text the pattern matches. Empty when nothing can be derived."""
    try:
        parsed = sre_parse.parse(_flex_spaces(pattern), re.IGNORECASE)
    except re.error:
        return []
    return _tree_requirements(parsed)


class Searcher(Protocol):
    """What ``re.Pattern.search`` offers: a compiled regex, or a :class:`ScanThenMatch`."""

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        raise NotImplementedError


class ScanThenMatch:
    """``search`` of a regex that opens with zero-width assertions (``\\b``, lookbehinds), as fast
    as a scan for what follows them. Such an opening keeps ``re`` from scanning for the regex's
    first characters: it tries the whole regex at every position of the text (5 us instead of
    1.5 us for ``\\b(third|final) reading\\b`` on an average action text of 380 characters; 15
    instead of 3 behind four lookbehinds). Here ``re`` scans for the head of what follows the
    opening (its first literals, or its first item: ``(third|final)``), and each place the head
    occurs, leftmost first, is tried with the whole regex anchored there (the assertions see
    the text before it, as in a search). The whole regex can only match where the head occurs,
    so the first place where it does is the match ``search`` finds: the same match."""

    __slots__ = ("_head", "_flags", "_scan", "_whole", "pattern")

    def __init__(self, head: Any, flags: int, whole: re.Pattern[str]) -> None:
        self._head, self._flags, self._whole = head, flags, whole  # head: a parse tree
        self._scan: Callable[[str, int, int], re.Match[str] | None] | None = None
        self.pattern = whole.pattern

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        scan = self._scan
        if scan is None:  # compiled on first use: most rule sets try a few of their branches
            scan = self._scan = _compile_tree(self._head, self._flags).search
        anchored = self._whole.match
        while (found := scan(text, pos, endpos)) is not None:
            start = found.start()
            if (match := anchored(text, start, endpos)) is not None:
                return match
            pos = start + 1
        return None


# zero-width at the start of a regex that ScanThenMatch can skip: \b, \B, look-arounds
_SKIPPABLE_OPENING = {
    (sre_parse.AT, sre_parse.AT_BOUNDARY),
    (sre_parse.AT, sre_parse.AT_NON_BOUNDARY),
}


def _searcher(source: str, tree: Any, whole: re.Pattern[str], flags: int) -> Searcher:
    """`whole` (compiled from `tree`, parsed from `source`), or a :class:`ScanThenMatch` when it
    opens with zero-width assertions and what follows them starts with something ``re`` scans
    for fast. Not for a regex with references or inline flags (:data:`_CONTEXTUAL`): the head
    alone could refer to a group it does not hold."""
    if _CONTEXTUAL.search(source):
        return whole
    data = list(tree.data)
    skip = 0
    while skip < len(data) and (
        data[skip] in _SKIPPABLE_OPENING
        or data[skip][0] in (sre_parse.ASSERT, sre_parse.ASSERT_NOT)
    ):
        skip += 1
    rest = data[skip:]
    if not skip or not rest:
        return whole
    literals = 0
    while literals < len(rest) and rest[literals][0] is sre_parse.LITERAL:
        literals += 1
    # a run of literals, or the first item (with the one after it when it is a lone character)
    head = sre_parse.SubPattern(tree.state, rest[: literals if literals > 1 else literals + 1])
    try:  # the compiler's own test for a prefix it scans for (private: not used if it moves)
        literal, _skip, _all = _compiler._get_literal_prefix(head, flags)
        if len(literal) < 2 and not _compiler._get_charset_prefix(head, flags):
            return whole
    except AttributeError:
        return whole
    return ScanThenMatch(head, flags, whole)


def analyse_regex(source: str, flags: int = 0) -> tuple[re.Pattern[str], list[frozenset[str]]]:
    """`source` (a regex as written: no space rewriting) compiled, and its literal requirements
    (as :func:`required_literals`), from one parse.

    The requirements are derived from the parse tree of the very regex that is matched, and the
    same tree is compiled (CPython's ``re._compiler.compile`` accepts a parsed pattern; it is what
    ``re.compile`` runs after parsing), so the pure-Python parser runs once instead of twice. The
    Pattern's ``.pattern`` is None (and a pickled copy cannot be loaded: no rule set or classifier
    crosses a process boundary; each process builds its own). Raises ``re.error`` like
    ``re.compile``.
    """
    tree, required = _parsed(source, flags)
    return _compile_tree(tree, flags), required


def analyse_search(source: str, flags: int = 0) -> tuple[Searcher, list[frozenset[str]]]:
    """:func:`analyse_regex`, for a caller that only searches: a regex that opens with
    zero-width assertions comes as a :class:`ScanThenMatch`."""
    tree, required = _parsed(source, flags)
    return _searcher(source, tree, _compile_tree(tree, flags), flags), required


def _parsed(source: str, flags: int) -> tuple[Any, list[frozenset[str]]]:
    tree = sre_parse.parse(source, flags)
    return tree, _tree_requirements(tree)  # from the tree as parsed, before the compiler sees it


def _tree_requirements(parsed: Any) -> list[frozenset[str]]:
    return [frozenset(c) for c in _seq_requirements(list(parsed)) if all(len(t) >= 2 for t in c)]


def _seq_requirements(items: Sequence[tuple[Any, Any]]) -> list[set[str]]:
    """A sequence's literal runs and the requirements of its required groups, all of them."""
    candidates: list[set[str]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            candidates.append({"".join(run).lower()})
            run.clear()

    for op, av in items:
        if op is _LITERAL:
            run.append(chr(av))
            continue
        if op in _ZERO_WIDTH:
            # an anchor does not consume text, so literals on both sides stay adjacent
            continue
        close()
        candidates.extend(_item_requirements(op, av))
    close()
    return candidates


def _best(items: Sequence[tuple[Any, Any]]) -> set[str] | None:
    found = _seq_requirements(items)
    return max(found, key=_selectivity) if found else None


def _item_requirements(op: Any, av: Any) -> list[set[str]]:
    if op is _SUBPATTERN:
        return _seq_requirements(list(av[-1]))
    if op is _BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            sub = _best(list(branch))
            if not sub:
                return []
            union |= sub
        return [union]
    if op in _REPEATS and op is not None and av[0] >= 1:
        return _seq_requirements(list(av[2]))
    return []


def _selectivity(triggers: set[str]) -> tuple[int, int]:
    # the shortest alternative bounds how rare the requirement is; fewer alternatives break ties
    return (min(len(t) for t in triggers), -len(triggers))


# --- rule sets ---------------------------------------------------------------------------------


class RuleSet:
    """An ordered list of compiled rules with a fast, cached classifier.

    Every branch (top-level alternative) of every rule is a bit in an integer mask, numbered in
    rule order, and so is every literal requirement of a branch. Each literal maps to the branches
    its presence nominates (by their most selective requirement) and the requirements it meets;
    for a text both masks are ORed over the literals it contains (word literals looked up once per
    distinct word, cached). A nominated branch whose requirements are all met runs its regex,
    lowest bit first, so most rules cost a few integer operations instead of a regex search.
    """

    def __init__(self, rules: Iterable[_Compiled], *, name: str = "") -> None:
        self.name = name
        self.rules: list[_Compiled] = list(rules)
        self._always = 0  # branches no literal could be derived for: always tried
        # literal -> [branches it nominates, requirements it meets]
        by_literal: dict[str, list[int]] = {}
        req_bits: dict[frozenset[str], int] = {}
        # bit number -> (rule position, branch regex, requirements, the rule's later branches)
        self._bits: list[tuple[int, Searcher, int, int]] = []
        for pos, compiled in enumerate(self.rules):
            first = len(self._bits)
            rest_of_rule = ((1 << len(compiled.branches)) - 1) << first
            for branch in compiled.branches:
                bit = 1 << len(self._bits)
                needs = 0
                for requirement in branch.requires:
                    req = req_bits.setdefault(requirement, 1 << len(req_bits))
                    needs |= req
                    for lit in requirement:
                        by_literal.setdefault(lit, [0, 0])[1] |= req
                self._bits.append((pos, branch.regex, needs, rest_of_rule & ~((bit << 1) - 1)))
                if branch.triggers is None:
                    self._always |= bit
                else:
                    for trig in branch.triggers:
                        by_literal.setdefault(trig, [0, 0])[0] |= bit
        # one integer per literal: the branches it nominates, then (shifted) the requirements it meets
        self._shift = len(self._bits)
        by_trigger = {lit: bits | reqs << self._shift for lit, (bits, reqs) in by_literal.items()}
        # Triggers made of letters only lie inside one word of the text, so they are found per
        # distinct word (a small, repetitive vocabulary, cached) instead of one scan per trigger.
        self._word_triggers = tuple(
            (t, m) for t, m in by_trigger.items() if t.isalpha() and t.isascii()
        )
        self._other_triggers = tuple(
            (t, m) for t, m in by_trigger.items() if not (t.isalpha() and t.isascii())
        )
        self._word_masks: dict[str, int] = {}
        self._cached = lru_cache(maxsize=_CACHE_SIZE)(self._classify_lower)

    def __len__(self) -> int:
        return len(self.rules)

    def classify(self, description: str, chamber: str | None = None) -> list[str]:
        """Open States classifications for one action, ordered and deduplicated."""
        if not description:
            return []
        return list(self._cached(description.lower(), chamber or None))

    def explain(self, description: str, chamber: str | None = None) -> list[Match]:
        """Every rule that fires, in order, up to and including the first ``stop`` rule."""
        matches: list[Match] = []
        for compiled in self.rules:
            rule = compiled.rule
            if rule.actor is not None and rule.actor != chamber:
                continue
            found = compiled.regex.search(description)
            if found is None:
                continue
            matches.append(
                Match(
                    file=compiled.file,
                    index=compiled.index,
                    rule_id=rule.id,
                    pattern=rule.pattern,
                    matched=found.group(0),
                    classifications=tuple(rule.classifications),
                    stop=rule.stop,
                    actor=rule.actor,
                )
            )
            if rule.stop:
                break
        return matches

    def _candidates(self, lower: str) -> tuple[int, int]:
        """The branches nominated by the literals in the text, and the requirements it meets."""
        found = self._always
        for trig, bits in self._other_triggers:
            if trig in lower:
                found |= bits
        masks = self._word_masks
        for word in set(_WORDS.findall(lower)):
            bits = masks.get(word)
            if bits is None:
                if len(masks) > _CACHE_SIZE:
                    masks.clear()
                bits = 0
                for trig, trig_bits in self._word_triggers:
                    if trig in word:
                        bits |= trig_bits
                masks[word] = bits
            found |= bits
        shift = self._shift
        return found & ((1 << shift) - 1), found >> shift

    def _classify_lower(self, lower: str, chamber: str | None) -> tuple[str, ...]:
        out: dict[str, None] = {}
        mask, met = self._candidates(lower)
        rules, bits = self.rules, self._bits
        while mask:
            low = mask & -mask
            mask ^= low
            pos, regex, needs, rest_of_rule = bits[low.bit_length() - 1]
            if needs & ~met:
                continue  # a literal the branch requires is missing
            rule = rules[pos].rule
            if rule.actor is not None and rule.actor != chamber:
                continue
            if regex.search(lower) is None:
                continue
            mask &= ~rest_of_rule  # the rule fired: its other branches need not be tried
            for c in rule.classifications:
                out[c] = None
            if rule.stop:
                break
        return tuple(out)


def summarize(exc: ValidationError) -> str:
    """A validation error on one line: "field: message; ..."."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )


def parse_rules(raw: Any, *, file: str) -> list[_Compiled]:
    """Validate a list of rule dicts; errors name the file and the rule index."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RuleError(
            f"{file}: action rules must be a list of mappings, got {type(raw).__name__}"
        )
    compiled: list[_Compiled] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RuleError(f"{file}: rule {index} must be a mapping, got {type(item).__name__}")
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            label = f" ({item.get('id')})" if item.get("id") else ""
            raise RuleError(f"{file}: rule {index}{label} is invalid: {summarize(exc)}") from exc
        # validation analysed the pattern's alternatives: this is a cache hit
        compiled.append(
            _Compiled(rule=rule, file=file, index=index, branches=_branches(rule.pattern))
        )
    return compiled


# libyaml's loader when PyYAML has it: ten times faster on actions.yaml and topics.yaml (read
# by every process that classifies, e.g. each import, and by `tracker search`); the same data
# as yaml.safe_load
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_rules_yaml(path: Path, error: type[Exception] = ValueError) -> Any:
    """A rules file's data; invalid YAML raises `error` naming the file and the place."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


def _read_yaml(path: Path) -> Any:
    return read_rules_yaml(path, RuleError)


def _state_rule_sources(config: Path, state: str) -> tuple[list[_Compiled], bool]:
    """A state's own rules (state config key, then the action_rules file) and the replace flag."""
    rules: list[_Compiled] = []
    replace = False
    state_file = config / "states" / f"{state}.yaml"
    if state_file.is_file():
        data = _read_yaml(state_file) or {}
        if not isinstance(data, dict):
            raise RuleError(f"{state_file}: expected a mapping at the top level")
        rules += parse_rules(data.get("action_rules"), file=str(state_file))
        replace = bool(data.get("action_rules_replace_defaults", False))
    extra_file = config / STATE_RULES_DIR / f"{state}.yaml"
    if extra_file.is_file():
        data = _read_yaml(extra_file)
        if isinstance(data, dict):
            replace = replace or bool(data.get("replace_defaults", False))
            data = data.get("rules")
        rules += parse_rules(data, file=str(extra_file))
    return rules, replace


def _default_rules(config: Path) -> list[_Compiled]:
    return list(_default_rules_cached(config))


@lru_cache(maxsize=8)
def _default_rules_cached(config: Path) -> tuple[_Compiled, ...]:
    """The shared rules file, parsed once per config folder (not once per state)."""
    return tuple(_parse_default_rules(config))


def _parse_default_rules(config: Path) -> list[_Compiled]:
    path = config / DEFAULTS_FILE
    if not path.is_file():
        raise RuleError(f"{path}: the shared action rules file is missing")
    data = _read_yaml(path)
    if not isinstance(data, dict) or "rules" not in data:
        raise RuleError(f"{path}: expected a mapping with a 'rules' list")
    return parse_rules(data["rules"], file=str(path))


@lru_cache(maxsize=128)
def _load_cached(state: str | None, config: Path) -> RuleSet:
    return _build(state, config, None)


def _build(state: str | None, config: Path, extra: list[dict[str, Any]] | None) -> RuleSet:
    own: list[_Compiled] = parse_rules(extra, file="<extra>") if extra else []
    replace = False
    if state:
        state_rules, replace = _state_rule_sources(config, state)
        own += state_rules
    defaults = [] if replace else _default_rules(config)
    return RuleSet(own + defaults, name=state or "default")


_FAST: dict[str | None, RuleSet] = {}
_FAST_OWNER: list[object] = [None]  # the settings object _FAST was filled under


def load_rules(state: str | None, extra: list[dict[str, Any]] | None = None) -> RuleSet:
    """The rules for `state` (postal code or None): its own rules first, then the defaults.

    Cached per state and settings object (``reset_settings()`` or :func:`clear_cache` forget it)
    unless `extra` rules are given.
    """
    code = state.lower() if state else None
    settings = get_settings()
    if _FAST_OWNER[0] is not settings:  # settings were reset: the config folder may differ
        _FAST.clear()
        _FAST_OWNER[0] = settings
    if extra is None and code in _FAST:
        return _FAST[code]
    config = Path(settings.resolved_config_dir)
    if extra:
        return _build(code, config, extra)
    rules = _FAST[code] = _load_cached(code, config)
    return rules


def clear_cache() -> None:
    """Forget loaded rule sets (after editing rule files, or in tests)."""
    _FAST.clear()
    _load_cached.cache_clear()
    _default_rules_cached.cache_clear()


def classify_action(
    description: str, chamber: str | None = None, state: str | None = None
) -> list[str]:
    """Open States classifications of one action description, ordered and deduplicated."""
    return load_rules(state).classify(description, chamber)
