"""Benchmark: one message's delivery time over a connection with network latency, against an
SMTP server that offers PIPELINING and one that does not.

A proxy on loopback delays each direction by half the round-trip time (``--rtt``), between the
real transport (``tracker.mail.SmtpTransport``) and an aiosmtpd server. Without PIPELINING a
message takes four round trips (MAIL, RCPT, DATA, the message); with it, two. Against a provider
across the internet (10-50 ms away) that is most of the time a digest run takes.

    .venv/bin/python bench/bench_smtp_rtt.py                 # RTT 10 and 20 ms, 100 messages
    .venv/bin/python bench/bench_smtp_rtt.py --rtt 40 --n 50
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from tracker import mail  # noqa: E402


class Server:
    """aiosmtpd handler: accepts everything; offers PIPELINING when asked."""

    def __init__(self, pipelining: bool) -> None:
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_delay_proxy(target: int, delay: float) -> int:
    """A TCP proxy to 127.0.0.1:`target` that holds every chunk `delay` seconds, in each
    direction, keeping order; returns its port."""
    port = free_port()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.create_task(forward())
        while True:
            data = await reader.read(65536)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                break
        await task

    async def handle(client_r: Any, client_w: Any) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pump(client_r, server_w), pump(server_r, client_w))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    time.sleep(0.2)
    return port


def ms_per_message(rtt_ms: float, pipelining: bool, n: int, msg: Any) -> float:
    controller = Controller(Server(pipelining), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        port = start_delay_proxy(controller.port, rtt_ms / 2000)
        with mail.SmtpTransport(host="127.0.0.1", port=port, envelope_from="d@example.org") as t:
            t.send(msg, to="warm@example.org")
            started = time.perf_counter()
            for i in range(n):
                t.send(msg, to=f"r{i}@example.org")
            return (time.perf_counter() - started) * 1000 / n
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, nargs="+", default=[10, 20], help="round trip, ms")
    parser.add_argument("--n", type=int, default=100, help="messages per measurement")
    args = parser.parse_args()
    msg = mail.build_message(
        to="a@example.org",
        subject="Digest",
        text="HB 1 - passed committee\n" * 200,
        html="<p>HB 1 &ndash; passed committee</p>\n" * 200,
        unsubscribe_url="https://tracker.example/unsubscribe/1",
    )
    print(f"{args.n} messages of {len(mail.as_bytes(msg)):,} bytes over one connection")
    for rtt in args.rtt:
        plain = ms_per_message(rtt, False, args.n, msg)
        piped = ms_per_message(rtt, True, args.n, msg)
        print(
            f"RTT {rtt:g} ms: {plain:.1f} ms a message one command at a time, "
            f"{piped:.1f} ms with PIPELINING ({plain / piped:.1f}x)"
        )


if __name__ == "__main__":
    main()
