"""Benchmark: building and serializing one digest message, per message.

``tracker.mail.build_message`` is the one builder of every mail; a digest run calls it once per
subscriber. The baseline, measured in the same run, is the plain ``email`` package way
(``set_content`` + ``add_alternative`` with ``policy.SMTP``, quoted-printable), which is what
the builder would be without its shortcuts (parts encoded by ``binascii``, shared headers parsed
and folded once).

    .venv/bin/python bench/bench_mail.py                 # 2,000 messages of ~40 KB
    .venv/bin/python bench/bench_mail.py --n 500 --lines 100
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP

from tracker import mail

SUBJECT = "3 bills moved: New York, Massachusetts and Vermont (Mar 3 – Mar 9, 2025)"


def plain_email_package(i: int, text: str, html: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = SUBJECT
    msg["From"] = "Single-Payer Tracker <digest@example.org>"
    msg["To"] = f"r{i}@example.org"
    msg["List-Unsubscribe"] = f"<https://t.example/unsubscribe/abc{i}.def>"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def builder(i: int, text: str, html: str) -> bytes:
    msg = mail.build_message(
        to=f"r{i}@example.org",
        subject=SUBJECT,
        text=text,
        html=html,
        unsubscribe_url=f"https://t.example/unsubscribe/abc{i}.def",
    )
    return mail.as_bytes(msg)


def per_message_ms(build: Callable[[int, str, str], bytes], n: int, text: str, html: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(n):
            build(i, text, html)
        best = min(best, (time.perf_counter() - started) / n * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="messages per timing")
    parser.add_argument("--lines", type=int, default=300, help="lines of HTML per message")
    args = parser.parse_args()
    html = "<p>Zoë’s bill – referred to the committee on health</p>\n" * args.lines
    text = "HB 1 – passed committee: https://tracker.example/bills/ny/2025/HB1/\n" * (
        args.lines // 2
    )
    size = len(builder(0, text, html))
    base = per_message_ms(plain_email_package, args.n, text, html)
    ours = per_message_ms(builder, args.n, text, html)
    print(f"message of {size:,} bytes, best of 3 runs of {args.n}")
    print(f"baseline (email package, policy.SMTP): {base:.2f} ms/message")
    print(f"tracker.mail.build_message + as_bytes: {ours:.2f} ms/message ({base / ours:.1f}x)")


if __name__ == "__main__":
    main()
