"""`tracker mail test ADDRESS`: check the SMTP settings by sending one message.

A person setting up the tracker needs to know, before the first digest is due, that mail
leaves: this sends one plain message through the configured server and, when that fails, says
which setting to change (and how to run a local test server).
"""

from __future__ import annotations

import html
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Mail set-up.\n\nExample: tracker mail test ann@example.org",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

LOCAL_SERVER = "python -m aiosmtpd -n -l 127.0.0.1:8025"


def smtp_hint(exc: BaseException) -> str:
    """What went wrong with the configured SMTP server, and which settings to set."""
    from tracker.settings import get_settings

    s = get_settings()
    return (
        f"no mail could be sent through {s.smtp_host}:{s.smtp_port} ({exc}). "
        "Set TRACKER_SMTP_HOST and TRACKER_SMTP_PORT to your mail server "
        "(and TRACKER_SMTP_USER, TRACKER_SMTP_PASSWORD, TRACKER_SMTP_SECURITY if it needs them); "
        f"to try things locally, run `{LOCAL_SERVER}` and set TRACKER_SMTP_PORT=8025."
    )


@app.command("test")
def test_cmd(
    address: Annotated[str, typer.Argument(help="where to send the test message")],
) -> None:
    """Send one test message through the configured SMTP server; exit 1 if it fails.

    Example: TRACKER_SMTP_PORT=8025 tracker mail test ann@example.org
    """
    from tracker import mail
    from tracker.settings import get_settings

    settings = get_settings()
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    text = (
        "This is a test message from the Single-Payer Tracker.\n\n"
        f"It was sent through {where} from {settings.mail_from}.\n"
        "If you can read it, digests and alerts can be delivered too.\n"
    )
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line)
    try:
        message = mail.build_message(
            to=address,
            subject="Single-Payer Tracker: test message",
            text=text,
            html=body,
            settings=settings,
        )
        with mail.SmtpTransport.from_settings(settings) as transport:
            transport.send(message, to=address)
    except (mail.DeliveryError, OSError) as exc:
        err.print(f"error: {smtp_hint(exc)}", style="red", markup=False)
        raise typer.Exit(1) from None
    except ValueError as exc:  # a malformed address or a refused setting (clear-text login)
        err.print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    print(f"sent a test message to {address} through {where}")
