"""Digests assembled from blocks: each bill's section rendered and quoted-printable encoded once
per week, each set of choices rendered once with the bills as markers. What comes out must be
exactly what rendering every digest whole gives (the templates with the bills in, then the body
split at the personal values and encoded piece by piece), for awkward scraped text too."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from markupsafe import Markup
from synthetic_digest_data import PERIOD, load_synthetic_week

from tracker import digest, digest_render, mail, subscriptions
from tracker.digest import MAX_EVENTS
from tracker.settings import get_settings, reset_settings
from tracker.templating import get_env

VALUES = {
    "email": "o'neil+x@example.org",
    "manage_url": "https://t.example/manage/" + "M" * 90,
    "unsubscribe_url": "https://t.example/unsubscribe/U?a=1&b=2",
}
# what scrapers bring: carriage returns, trailing blanks, a lone dot, "=", long lines, markup,
# non-ASCII, and text that looks like the renderer's own markers
AWKWARD = [
    "Health\r\ncare for all \r\n.\r\nsecond line ",
    "x" * 300 + " = " + "é" * 90,
    "ends with a blank ",
    "@@SPT-BILL-0123456789abcdef-1@@ and @@SPT-EMAIL@@ <b>bold</b> & co",
    ".",
    "\r",
]


@pytest.fixture
def week(engine):  # type: ignore[no-untyped-def]
    load_synthetic_week(engine)
    with engine.connect() as conn:
        week = digest.load_week(conn, period=PERIOD)
    for bill, text in zip(week.bills.values(), itertools.cycle(AWKWARD), strict=False):
        bill.title = text + " " + bill.title
        for event in bill.events:
            event.text = text + event.text
    return week


def _whole(week: digest.Week, prefs: subscriptions.Preferences, links: dict[str, str]):  # type: ignore[no-untyped-def]
    """The digest rendered in one go, bills inside (what every digest cost before blocks)."""
    env = get_env()
    ctx = week.context_for(prefs, links)
    kw = {"detail": prefs.detail, "max_events": MAX_EVENTS}
    ctx["bill_html"] = lambda b: Markup(env.get_template("email/_bill.html").render(b=b, **kw))
    ctx["bill_text"] = lambda b: env.get_template("email/_bill.txt").render(b=b, **kw)
    return (
        " ".join(env.get_template("email/digest_subject.txt").render(ctx).split()),
        env.get_template("email/digest.html").render(ctx),
        env.get_template("email/digest.txt").render(ctx),
    )


def _encoded_whole(body: str, markers: dict[str, str], values: dict[str, str]) -> bytes:
    """The body with markers for the personal values, encoded as one piece between them."""
    name_of = {v: k for k, v in markers.items()}
    pieces = re.split("(" + "|".join(map(re.escape, name_of)) + ")", body)
    return mail.EncodedBody(tuple(pieces[0::2]), tuple(name_of[m] for m in pieces[1::2])).fill(
        values
    )


CHOICES = [
    {"states": states, "topics": topics, "query": query, "detail": detail}
    for states in ([], ["ny"], ["ca", "mn", "vt"])
    for topics in (["single-payer", "single-payer-study"], list(subscriptions.TOPICS))
    for query in (None, "health")
    for detail in ("full", "brief")
]


def test_assembled_digest_is_the_whole_rendering(week: digest.Week) -> None:
    renderer = digest_render.DigestRenderer(week)
    escaped = digest_render._escaped(VALUES)
    for choice in CHOICES:
        prefs = subscriptions.make_preferences(**choice)  # type: ignore[arg-type]
        subject, html, text = _whole(week, prefs, VALUES)
        rendered = renderer.render(prefs, **VALUES)
        assert (rendered.subject, rendered.html, rendered.text) == (subject, html, text), choice
        markers = renderer.markers
        _, marked_html, marked_text = _whole(week, prefs, markers)
        encoded = renderer.encoded(prefs, **VALUES)
        assert encoded.html == _encoded_whole(marked_html, markers, escaped), choice
        assert encoded.text == _encoded_whole(marked_text, markers, VALUES), choice
    # the awkward text reached the digests (escaped in HTML), look-alike markers as written
    everything = renderer.render(
        subscriptions.make_preferences(topics=subscriptions.TOPICS), **VALUES
    )
    assert "@@SPT-BILL-0123456789abcdef-1@@ and @@SPT-EMAIL@@ &lt;b&gt;bold" in everything.html
    assert "@@SPT-BILL-0123456789abcdef-1@@ and @@SPT-EMAIL@@ <b>bold</b>" in everything.text
    look_alike = "@@SPT-BILL-0123456789abcdef-1@@ and @@SPT-EMAIL@@"
    for body in (everything.html, everything.text):
        assert "@@" not in body.replace(look_alike, "")  # no marker left, none taken for one


ALPHABET = ["a", "b", " ", "  ", "\t", "=", ".", "\n", "\n", "é", "€", "_", "x" * 80]


def _random_text(rng: random.Random) -> str:
    """Text with blanks, dots, "=", long and non-ASCII lines; a carriage return in one in five."""
    alphabet = ALPHABET + (["\r", "\r\n"] if rng.random() < 0.2 else [])
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def test_blocks_encode_as_the_whole_text() -> None:
    """Quoted-printable of text with blocks in it, each block's middle encoded on its own, is
    byte for byte the encoding of the whole text, soft break after it or not."""
    rng = random.Random(15)
    middles = 0
    for _ in range(3000):
        segments: list[str | mail.Block] = [
            mail.Block(_random_text(rng)) if rng.random() < 0.5 else _random_text(rng)
            for _ in range(rng.randint(1, 6))
        ]
        whole = "".join(s.text if isinstance(s, mail.Block) else s for s in segments)
        for soft in (True, False):
            assert mail._qp_segments(tuple(segments), soft_break=soft) == mail._qp_piece(
                whole, soft_break=soft
            ), repr(segments)
        middles += sum(1 for s in segments if isinstance(s, mail.Block) and s.middle)
    assert middles > 1000  # most blocks had lines encoded on their own


@pytest.mark.parametrize("length", [1, 10, 23, 24, 25, 40, 70])
def test_content_type_line_is_what_the_policy_writes(length: int) -> None:
    rng = random.Random(length)
    for policy in (mail.POLICY, mail.POLICY_UTF8):
        for _ in range(20):
            boundary = "=_" + "".join(rng.choice("abcdef0123456789_Z") for _ in range(length))
            value = f'multipart/alternative; boundary="{boundary}"'
            expected = policy.fold_binary(
                "Content-Type", policy.header_factory("Content-Type", value)
            )
            assert mail._content_type_line(policy, boundary) == expected


def test_links_are_the_links_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import itsdangerous.timed

    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: 1741000000
    )
    settings = get_settings()

    class Row:
        def __init__(self, id: int, email: str) -> None:  # noqa: A002
            self.id, self.email = id, email

    for row in (Row(1, "a@example.org"), Row(123456, "o'neil+x@bücher.example")):
        both = subscriptions.links(row, ("manage", "unsubscribe"), settings=settings)
        assert both == {
            p: subscriptions.link(row, p, settings=settings) for p in ("manage", "unsubscribe")
        }
        assert both["manage"] != both["unsubscribe"]


def test_one_rendering_serves_both_detail_levels_unless_a_template_reads_it(
    week: digest.Week, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    full = subscriptions.make_preferences(states=["ny"], detail="full")
    brief = subscriptions.make_preferences(states=["ny"], detail="brief")
    renderer = digest_render.DigestRenderer(week)
    a, b = renderer.render(full, **VALUES), renderer.render(brief, **VALUES)
    assert renderer.renderings == 1 and a.text != b.text  # the bills' blocks differ
    assert (a.text, b.text) == (_whole(week, full, VALUES)[2], _whole(week, brief, VALUES)[2])
    # an installation's own digest.txt that shows the detail level: rendered per level
    from tracker.paths import templates_dir

    (tmp_path / "email").mkdir()
    own = (templates_dir() / "email/digest.txt").read_text()
    own = own.replace("{% include", "Detail: {{ detail }}\n{% include", 1)
    (tmp_path / "email/digest.txt").write_text(own)
    monkeypatch.setenv("TRACKER_TEMPLATES_DIR", str(tmp_path))
    reset_settings()  # settings are read once per process
    renderer = digest_render.DigestRenderer(week)
    a, b = renderer.render(full, **VALUES), renderer.render(brief, **VALUES)
    assert renderer.renderings == 2
    assert "Detail: full" in a.text and "Detail: brief" in b.text
    assert (a.text, b.text) == (_whole(week, full, VALUES)[2], _whole(week, brief, VALUES)[2])
    encoded = renderer.encoded(brief, **VALUES).text
    assert encoded == _encoded_whole(
        _whole(week, brief, renderer.markers)[2], renderer.markers, VALUES
    )
