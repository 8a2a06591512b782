"""The shared Jinja2 environment looks ``row.name`` up on a plain dict as the key at once
(tracker.templating._Environment); what a template gets must stay exactly Jinja's own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from jinja2 import Environment, StrictUndefined, UndefinedError

from tracker.templating import get_env


@dataclass
class Row:
    title: str


class Keyed(dict):  # type: ignore[type-arg]
    """A dict subclass with an attribute of its own: Jinja's rule (attribute first) applies."""

    title = "attribute"


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("{{ d.title }}", {"d": {"title": "<b>key</b>"}}),  # escaped as before
        ("{{ d.items }}", {"d": {"items": "key"}}),  # a dict method's name: the method
        ("{{ d.get('x', 'y') }}", {"d": {"get": "key"}}),
        ("{{ d['items'] }}", {"d": {"items": "key"}}),
        ("{{ d.title }}", {"d": Keyed(title="key")}),
        ("{{ d.title }}", {"d": Row("dataclass")}),
        ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"a": 1, "b": 2}}),
        ("{{ d.title is defined }}", {"d": {}}),
    ],
)
def test_dict_attribute_lookup_renders_as_jinja_does(source: str, context: dict) -> None:  # type: ignore[type-arg]
    plain = Environment(autoescape=True, undefined=StrictUndefined)
    ours = get_env()
    assert ours.from_string(source).render(**context) == plain.from_string(source).render(**context)


def test_a_missing_key_is_still_an_error() -> None:
    with pytest.raises(UndefinedError):
        get_env().from_string("{{ d.title }}").render(d={})
