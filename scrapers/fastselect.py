"""A fast CSS matcher for BeautifulSoup trees, covering the selectors state configs use.

soupsieve implements all of CSS and pays for that generality on every element it tests; a list
page asks for ``td:nth-of-type(3)`` thousands of times and a bill page runs ``:-soup-contains``
over every element. This module compiles the common subset into plain Python closures:

- compounds: ``tag`` or ``*``, ``#id``, ``.class``, ``[attr]``, ``[attr=v]`` with ``= *= ^= $= ~= |=``,
  ``:nth-of-type(n)``, ``:first-of-type``, ``:first-child``, ``:-soup-contains("text", ...)``,
  ``:has(relative selectors)``, ``:not(selectors)``;
- combinators: descendant (space), child ``>``, next sibling ``+``, later sibling ``~``;
- comma lists.

:func:`compile_selector` returns None for anything else (other pseudo-classes, namespaces) and
the caller falls back to soupsieve. Semantics follow soupsieve's ``select``: matches are
descendants of the scope element in document order, and ancestors or siblings outside the scope
still count for combinators. tests/test_engine.py checks both agree on every selector of every
state config over the saved pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, TypeGuard

from bs4 import CData, NavigableString, Tag

Test = Callable[[Tag], bool]
_IDENT = re.compile(r"-?[A-Za-z_][\w-]*")
_STRING = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_ATTR_OP = re.compile(r"\s*([*^$|~]?=)\s*")
_NUMBER = re.compile(r"\s*(\d+)\s*")
_TEXT_TYPES = (NavigableString, CData)


class Unsupported(ValueError):
    """The selector uses CSS this module does not implement (soupsieve will)."""


def _is_element(node: Any) -> TypeGuard[Tag]:
    return isinstance(node, Tag) and node.name != "[document]"


def _prev_elements(el: Tag) -> Iterable[Tag]:
    for sib in el.previous_siblings:
        if isinstance(sib, Tag):
            yield sib


def _text(el: Tag) -> str:
    # an exact type() test is the fast path (comments are strings too); mypy cannot narrow on it
    return "".join(s for s in el.descendants if type(s) in _TEXT_TYPES)  # type: ignore[misc]


def _has_id(ident: str, el: Tag) -> bool:
    return el.attrs.get("id") == ident


def _has_class(cls: str, el: Tag) -> bool:
    return cls in (el.attrs.get("class") or ())


@dataclass(frozen=True)
class Compound:
    tag: str | None
    tests: tuple[Test, ...]

    def matches(self, el: Tag) -> bool:
        if self.tag is not None and el.name != self.tag:
            return False
        for test in self.tests:
            if not test(el):
                return False
        return True


@dataclass(frozen=True)
class Complex:
    """Compounds right to left; ``combinators[i]`` joins ``compounds[i]`` to its left neighbour
    ``compounds[i+1]``. ``lead`` is the combinator before the leftmost compound in ``:has()``."""

    compounds: tuple[Compound, ...]
    combinators: tuple[str, ...]
    lead: str = ""

    @property
    def key_tag(self) -> str | None:
        return self.compounds[0].tag

    def matches(self, el: Tag, anchor: Tag | None = None) -> bool:
        return self.compounds[0].matches(el) and self._left(1, el, anchor)

    def _left(self, i: int, el: Tag, anchor: Tag | None) -> bool:
        if i >= len(self.compounds):
            return anchor is None or _related(self.lead or " ", el, anchor)
        compound = self.compounds[i]
        for cand in _candidates(self.combinators[i - 1], el):
            if compound.matches(cand) and self._left(i + 1, cand, anchor):
                return True
        return False


def _candidates(combinator: str, el: Tag) -> Iterable[Tag]:
    if combinator == ">":
        parent = el.parent
        return [parent] if _is_element(parent) else []
    if combinator == " ":
        return _ancestors(el)
    if combinator == "+":
        prev = next(iter(_prev_elements(el)), None)
        return [prev] if prev is not None else []
    return _prev_elements(el)  # "~"


def _ancestors(el: Tag) -> Iterable[Tag]:
    parent = el.parent
    while _is_element(parent):
        yield parent
        parent = parent.parent


def _related(lead: str, el: Tag, anchor: Tag) -> bool:
    """Is `el` placed relative to `anchor` as the ``:has()`` lead combinator says?"""
    if lead == ">":
        return el.parent is anchor
    if lead == " ":
        return any(a is anchor for a in _ancestors(el))
    if lead == "+":
        return next(iter(_prev_elements(el)), None) is anchor
    return any(p is anchor for p in _prev_elements(el))  # "~"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> Unsupported:
        return Unsupported(f"{why} at {self.pos} in {self.text!r}")

    def ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        m = pattern.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def selector_list(self, *, relative: bool = False, end: str = "") -> list[Complex]:
        out = [self.complex(relative=relative)]
        while True:
            self.ws()
            if self.peek() == ",":
                self.pos += 1
                out.append(self.complex(relative=relative))
            elif self.peek() == end:
                return out
            else:
                raise self.fail("unexpected character")

    def complex(self, *, relative: bool) -> Complex:
        self.ws()
        lead = ""
        if relative and self.peek() in (">", "+", "~"):
            lead = self.peek()
            self.pos += 1
            self.ws()
        compounds = [self.compound()]
        combinators: list[str] = []
        while True:
            had_ws = self.ws()
            ch = self.peek()
            if ch in (">", "+", "~"):
                self.pos += 1
                self.ws()
                combinators.append(ch)
            elif had_ws and ch and ch not in ",)":
                combinators.append(" ")
            else:
                break
            compounds.append(self.compound())
        return Complex(tuple(reversed(compounds)), tuple(reversed(combinators)), lead)

    def compound(self) -> Compound:
        tag: str | None = None
        if self.peek() == "*":
            self.pos += 1
        elif m := self.take(_IDENT):
            tag = m.group(0).lower()
        tests: list[Test] = []
        while (ch := self.peek()) in ("#", ".", "[", ":"):
            self.pos += 1
            if ch == "#":
                ident = self._ident()
                tests.append(partial(_has_id, ident))
            elif ch == ".":
                cls = self._ident()
                tests.append(partial(_has_class, cls))
            elif ch == "[":
                tests.append(self._attribute())
            else:
                tests.append(self._pseudo())
        if tag is None and not tests and self.text[self.pos - 1 : self.pos] != "*":
            raise self.fail("expected a selector")
        return Compound(tag, tuple(tests))

    def _ident(self) -> str:
        m = self.take(_IDENT)
        if not m:
            raise self.fail("expected a name")
        return m.group(0)

    def _attribute(self) -> Test:
        self.ws()
        name = self._ident().lower()
        self.ws()
        if self.peek() == "]":
            self.pos += 1
            return lambda el: name in el.attrs
        op = self.take(_ATTR_OP)
        if not op:
            raise self.fail("bad attribute test")
        s = self.take(_STRING)
        value = (s.group(1) if s.group(1) is not None else s.group(2)) if s else self._ident()
        self.ws()
        if self.peek() != "]":
            raise self.fail("attribute flags are not supported")
        self.pos += 1
        return _attr_test(name, op.group(1), value)

    def _pseudo(self) -> Test:
        name = self._ident().lower()
        if name in ("first-of-type", "first-child"):
            return _nth_of_type(1) if name == "first-of-type" else _first_child
        if self.peek() != "(":
            raise self.fail(f"pseudo-class :{name} is not supported")
        self.pos += 1
        if name == "nth-of-type":
            m = self.take(_NUMBER)
            if not m or self.peek() != ")":
                raise self.fail("only :nth-of-type(<number>) is supported")
            self.pos += 1
            return _nth_of_type(int(m.group(1)))
        if name == "-soup-contains":
            words = self._strings()
            return lambda el: any(w in _text(el) for w in words)
        if name == "has":
            inner = self.selector_list(relative=True, end=")")
            self.pos += 1
            return lambda el: _has(el, inner)
        if name == "not":
            inner = self.selector_list(end=")")
            self.pos += 1
            return lambda el: not any(c.matches(el) for c in inner)
        raise self.fail(f"pseudo-class :{name}() is not supported")

    def _strings(self) -> tuple[str, ...]:
        words = []
        while True:
            self.ws()
            s = self.take(_STRING)
            if not s:
                raise self.fail("expected a quoted string")
            words.append(s.group(1) if s.group(1) is not None else s.group(2))
            self.ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == ")":
                self.pos += 1
                return tuple(words)
            else:
                raise self.fail("expected , or )")


def _has(el: Tag, inner: list[Complex]) -> bool:
    for complex_ in inner:
        if complex_.lead in ("+", "~"):
            pool: Iterable[Any] = el.next_siblings
        elif complex_.lead == ">" and len(complex_.compounds) == 1:
            pool = el.children
        else:
            pool = el.descendants
        for node in pool:
            if isinstance(node, Tag) and complex_.matches(node, anchor=el):
                return True
    return False


def _attr_test(name: str, op: str, value: str) -> Test:
    def get(el: Tag) -> str | None:
        v = el.attrs.get(name)
        return " ".join(v) if isinstance(v, list) else v

    if op == "=":
        return lambda el: get(el) == value
    if op == "*=":
        return lambda el: bool(value) and value in (get(el) or "")
    if op == "^=":
        return lambda el: bool(value) and (get(el) or "").startswith(value)
    if op == "$=":
        return lambda el: bool(value) and (get(el) or "").endswith(value)
    if op == "~=":
        return lambda el: value in (get(el) or "").split()
    return lambda el: (get(el) or "") == value or (get(el) or "").startswith(value + "-")


def _nth_of_type(n: int) -> Test:
    def test(el: Tag) -> bool:
        count = 1
        for sib in _prev_elements(el):
            if sib.name == el.name:
                count += 1
                if count > n:
                    return False
        return count == n

    return test


def _first_child(el: Tag) -> bool:
    return next(iter(_prev_elements(el)), None) is None


@lru_cache(maxsize=4096)
def compile_selector(selector: str) -> tuple[Complex, ...] | None:
    """The selector compiled, or None when it needs soupsieve."""
    parser = _Parser(selector.strip())
    try:
        out = parser.selector_list()
    except Unsupported:
        return None
    if parser.pos != len(parser.text):
        return None
    return tuple(out)


def key_tags(complexes: tuple[Complex, ...]) -> set[str] | None:
    """The tag names matches must have (rightmost compounds), or None if any is unnamed."""
    names = {c.key_tag for c in complexes}
    return None if None in names else names  # type: ignore[return-value]


def select(
    scope: Tag, complexes: tuple[Complex, ...], candidates: Iterable[Any] | None = None
) -> list[Tag]:
    """Descendants of `scope` matching any complex, in document order.

    `candidates` (the page's elements of the right names, in document order) saves walking the
    whole tree when the scope is the page itself.
    """
    pool = candidates if candidates is not None else scope.descendants
    return [el for el in pool if isinstance(el, Tag) and any(c.matches(el) for c in complexes)]
