"""The small steps that clean an extracted value: regex capture, dates, maps, splits, templates.

Each step takes the value so far (a string, None, or a list for ``many:`` fields and after
``split``) and returns the next. Steps on a list apply to each element, except the list steps
``join``, ``first``, ``last`` and ``nonempty``. A step that cannot do its job raises
:class:`TransformError` naming the step and the value: a value map meeting an unknown value, a
date in an unexpected format, a regex that finds nothing. That is how a changed site is noticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from scrapers.config import DateArg, RegexArg, StateConfig, Transform
from tracker.identifiers import display_identifier

_WS = re.compile(r"\s+")
LIST_STEPS = frozenset({"join", "first", "last", "nonempty", "default"})


class TransformError(ValueError):
    """A transform could not handle its input."""


class TemplateError(KeyError):
    """A template names something the context does not have."""

    def __init__(self, template: str, name: str, available: list[str]) -> None:
        self.template, self.name, self.available = template, name, available
        super().__init__(name)

    def __str__(self) -> str:
        names = ", ".join(sorted(self.available)[:40])
        return f"template {self.template!r} needs {{{self.name}}}, which is not known here (known: {names})"


class _Strict(dict[str, Any]):
    def __init__(self, data: Mapping[str, Any], template: str) -> None:
        super().__init__(data)
        self.template = template

    def __missing__(self, key: str) -> Any:
        raise TemplateError(self.template, key, list(self))


def fill(template: str, context: Mapping[str, Any]) -> str:
    """``str.format_map`` that names the missing key and what was available."""
    try:
        return template.format_map(_Strict(context, template))
    except TemplateError:
        raise
    except (ValueError, IndexError, AttributeError) as exc:
        raise TransformError(f"template {template!r} cannot be filled: {exc}") from exc


@lru_cache(maxsize=2048)
def _compile(pattern: str, flags: str = "") -> re.Pattern[str]:
    value = 0
    for letter in flags:
        value |= {"i": re.I, "m": re.M, "s": re.S}[letter]
    return re.compile(pattern, value)


class Env:
    """What steps may need besides the value: the page URL, template names, the state config.

    Template names are the layers given (later ones win), merged only if a step asks: most
    fields never use a template, and a list page runs tens of thousands of fields.
    """

    def __init__(
        self,
        *,
        url: str = "",
        context: Mapping[str, Any] | None = None,
        config: StateConfig | None = None,
        layers: tuple[Mapping[str, Any], ...] = (),
    ) -> None:
        self.url = url
        self.config = config
        self._layers = layers
        self._context = context

    @property
    def context(self) -> Mapping[str, Any]:
        if self._context is None:
            merged: dict[str, Any] = {}
            for layer in self._layers:
                merged.update(layer)
            self._context = merged
        return self._context


def apply(transforms: list[Transform], value: Any, env: Env) -> Any:
    for step in transforms:
        value = apply_one(step, value, env)
    return value


def apply_one(step: Transform, value: Any, env: Env) -> Any:
    op, arg = step.op, step.arg
    if op in LIST_STEPS:
        return _STEPS[op](value, arg, env)
    if isinstance(value, list):
        return [_STEPS[op](v, arg, env) for v in value]
    return _STEPS[op](value, arg, env)


# --------------------------------------------------------------------------------- steps


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _strip(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    if s is None:
        return None
    return s.strip(arg) if isinstance(arg, str) else s.strip()


def _squash(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    return None if s is None else _WS.sub(" ", s).strip()


def _regex(value: Any, arg: RegexArg, env: Env) -> Any:
    s = _text(value)
    pattern = _compile(arg.pattern, arg.flags)
    if arg.all:
        if s is None:
            return []
        return [_pick(m, arg) for m in pattern.finditer(s)]
    m = pattern.search(s) if s is not None else None
    if m is None:
        if arg.missing != "__error__":
            return arg.missing
        shown = s if s is None or len(s) < 120 else s[:117] + "..."
        raise TransformError(f"regex {arg.pattern!r} found nothing in {shown!r}")
    return _pick(m, arg)


def _pick(m: re.Match[str], arg: RegexArg) -> str | None:
    if arg.template is not None:
        groups = [g or "" for g in m.groups()]
        named = {k: v or "" for k, v in m.groupdict().items()}
        try:
            return arg.template.format(m.group(0), *groups, **named)
        except (IndexError, KeyError) as exc:
            raise TransformError(
                f"regex template {arg.template!r} names a missing group: {exc}"
            ) from exc
    if arg.group is not None:
        try:
            return m.group(arg.group)
        except IndexError as exc:
            raise TransformError(f"regex {arg.pattern!r} has no group {arg.group!r}") from exc
    if m.re.groups:
        return m.group(1)
    return m.group(0)


def _sub(value: Any, arg: tuple[str, str], env: Env) -> Any:
    s = _text(value)
    return None if s is None else _compile(arg[0]).sub(arg[1], s)


def _replace(value: Any, arg: tuple[str, str], env: Env) -> Any:
    s = _text(value)
    return None if s is None else s.replace(arg[0], arg[1])


def _split(value: Any, arg: str, env: Env) -> Any:
    s = _text(value)
    if s is None:
        return []
    return [p.strip() for p in s.split(arg) if p.strip()]


def _split_regex(value: Any, arg: str, env: Env) -> Any:
    s = _text(value)
    if s is None:
        return []
    return [p.strip() for p in _compile(arg).split(s) if p and p.strip()]


def _has_year(fmt: str) -> bool:
    return "%Y" in fmt or "%y" in fmt


def _date(value: Any, arg: DateArg, env: Env) -> Any:
    s = _text(value)
    if s is None or not s.strip():
        return None
    s = _WS.sub(" ", s).strip()
    year = fill(arg.year, env.context) if arg.year else None
    for fmt in arg.formats:
        text, f = s, fmt
        if not _has_year(fmt) and year:
            text, f = f"{s} {year}", f"{fmt} %Y"
        try:
            parsed = datetime.strptime(text, f)
        except ValueError:
            continue
        if any(code in fmt for code in ("%H", "%I", "%M")):
            return parsed.strftime("%Y-%m-%dT%H:%M:%S" if "%S" in fmt else "%Y-%m-%dT%H:%M")
        return parsed.strftime("%Y-%m-%d")
    tried = ", ".join(repr(f) for f in arg.formats)
    raise TransformError(f"date {s!r} matches none of the formats {tried}")


def _map(value: Any, arg: dict[str, Any], env: Env) -> Any:
    key = "" if value is None else str(value).strip()
    if key in arg:
        return arg[key]
    if "*" in arg:
        return arg["*"]
    known = ", ".join(repr(k) for k in arg)
    raise TransformError(f"value {key!r} is not in the map (known: {known}); add it to the config")


def _join(value: Any, arg: str, env: Env) -> Any:
    if isinstance(value, list):
        parts = [str(v) for v in value if v not in (None, "")]
        return arg.join(parts) if parts else None
    return value


def _default(value: Any, arg: Any, env: Env) -> Any:
    if value is None or value == "" or value == []:
        return fill(arg, env.context) if isinstance(arg, str) else arg
    return value


def _template(value: Any, arg: str, env: Env) -> Any:
    if value is None:
        return None
    return fill(arg, {**env.context, "value": value})


def _int(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    if s is None or not s.strip():
        return None
    digits = s.strip().replace(",", "")
    try:
        return int(digits)
    except ValueError as exc:
        raise TransformError(f"{s!r} is not a whole number") from exc


def _case(name: str) -> Callable[[Any, Any, Env], Any]:
    def step(value: Any, arg: Any, env: Env) -> Any:
        s = _text(value)
        return None if s is None else getattr(s, name)()

    return step


def _first(value: Any, arg: Any, env: Env) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _last(value: Any, arg: Any, env: Env) -> Any:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _nonempty(value: Any, arg: Any, env: Env) -> Any:
    if isinstance(value, list):
        return [v for v in value if v not in (None, "")]
    return value


def _equals(value: Any, arg: Any, env: Env) -> Any:
    return value == arg or (value is not None and str(value) == str(arg))


def _matches(value: Any, arg: str, env: Env) -> Any:
    s = _text(value)
    return bool(s is not None and _compile(arg).search(s))


def _absolute(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    if s is None or not s.strip():
        return None
    return urljoin(env.url, s.strip()) if env.url else s.strip()


def _session(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    if s is None:
        return None
    if env.config is None:
        return s
    found = env.config.session_for(s)
    if found is None:
        known = ", ".join(x.identifier for x in env.config.known_sessions())
        raise TransformError(
            f"session {s!r} is not in the config (known: {known}); add it to 'sessions:' "
            "with this name among its aliases"
        )
    return found.identifier


def _identifier(value: Any, arg: Any, env: Env) -> Any:
    s = _text(value)
    if s is None or not s.strip():
        return None
    return display_identifier(s.lstrip("*").strip())


_STEPS: dict[str, Callable[[Any, Any, Env], Any]] = {
    "strip": _strip,
    "squash": _squash,
    "regex": _regex,
    "sub": _sub,
    "replace": _replace,
    "split": _split,
    "split_regex": _split_regex,
    "date": _date,
    "map": _map,
    "join": _join,
    "default": _default,
    "template": _template,
    "int": _int,
    "upper": _case("upper"),
    "lower": _case("lower"),
    "title": _case("title"),
    "first": _first,
    "last": _last,
    "nonempty": _nonempty,
    "equals": _equals,
    "matches": _matches,
    "absolute": _absolute,
    "session": _session,
    "identifier": _identifier,
}
