"""How long Ctrl-C takes to end `tracker run` and `tracker demo`, and to leave no process behind.

    python bench/bench_stop.py                          # run and demo, 5 stops each
    python bench/bench_stop.py --what demo --rounds 3
    git archive main | tar -x -C /tmp/main-src && python bench/bench_stop.py --baseline /tmp/main-src

Each round starts the command in its own process group (as a shell's foreground job), waits
until /healthz says the scheduler runs (and `--settle` seconds more), then sends SIGINT to the
whole group as a terminal's Ctrl-C does, and times (1) the command's exit and (2) the moment
no process of the group is left (a zombie counts). `tracker run` gets every state's site on a
local port nobody listens on, so its first scrapes are waiting to retry when the signal comes;
the demo (`--quick --state nm`, ../shared or TRACKER_SHARED_DIR) serves its saved sites.

With `--baseline DIR` (another checkout's source, e.g. main), each round runs that first (by
PYTHONPATH) and then this checkout, interleaved, so both see the same machine. Wall-clock
figures (what a person waits); medians printed, each round listed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
TRACKER = Path(sys.executable).parent / "tracker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def command(what: str, work: Path, port: int) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["TRACKER_SHARED_DIR"] = os.environ.get("TRACKER_SHARED_DIR", str(ROOT.parent / "shared"))
    if what == "demo":
        args = ["demo", "--quick", "--state", "nm", "--workdir", str(work / "demo")]
        return [str(TRACKER), *args, "--port", str(port)], env
    config = work / "config"
    shutil.copytree(ROOT / "config", config)
    for path in (config / "states").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["base_url"] = f"http://127.0.0.1:{free_port()}"  # refused: scrapes retry
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    env.update(
        TRACKER_CONFIG_DIR=str(config),
        TRACKER_DATABASE_URL=f"sqlite:///{work / 'run.db'}",
        TRACKER_DATA_DIR=str(work / "data"),
        TRACKER_ENVIRONMENT="test",
    )
    return [str(TRACKER), "run", "--port", str(port)], env


def one_stop(what: str, source: Path | None, settle: float) -> tuple[float, float, int]:
    """(seconds to exit, seconds until the group is gone, exit code) of one Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="bench-stop-") as tmp:
        work, port = Path(tmp), free_port()
        args, env = command(what, work, port)
        if source is not None:
            env["PYTHONPATH"] = str(source)
        with open(work / "out.txt", "w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                args,
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/healthz"
                    if httpx.get(url, timeout=2).json().get("scheduler"):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit((work / "out.txt").read_text()[-3000:])
                time.sleep(0.2)
            time.sleep(settle)
            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=60)
            exited = time.monotonic() - started
            while group_alive(proc.pid) and time.monotonic() - started < 60:
                time.sleep(0.005)
            return exited, time.monotonic() - started, code
        finally:
            if group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--what", choices=["run", "demo", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds served before Ctrl-C")
    parser.add_argument("--baseline", type=Path, help="another checkout's source to compare")
    opts = parser.parse_args()
    whats = ["run", "demo"] if opts.what == "both" else [opts.what]
    sources: list[tuple[str, Path | None]] = [("this", None)]
    if opts.baseline is not None:
        sources.insert(0, ("baseline", opts.baseline.resolve()))
    for what in whats:
        seen: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in sources}
        for i in range(opts.rounds):
            for name, source in sources:
                exited, gone, code = one_stop(what, source, opts.settle)
                seen[name].append((exited, gone, code))
                print(
                    f"{what} {name} #{i}: exit {code} after {exited:.2f}s, group gone {gone:.2f}s"
                )
        for name, rows in seen.items():
            print(
                f"{what} {name}: median exit {statistics.median(r[0] for r in rows):.2f}s, "
                f"group gone {statistics.median(r[1] for r in rows):.2f}s, "
                f"exit codes {sorted({r[2] for r in rows})}"
            )


if __name__ == "__main__":
    main()
