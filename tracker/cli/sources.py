"""`tracker sources ...`: which sources each state uses, API quotas, disagreements; run them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="Sources of bills (own scrapers, Open States API, LegiScan API, bulk files), "
    "their quotas and disagreements.\n\nExample: tracker sources status",
    no_args_is_help=True,
)
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

StateOpt = Annotated[str | None, typer.Option("--state", help="one state, e.g. wa")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def _engine() -> Engine:
    from tracker.cli.core import engine_ready

    return engine_ready()


def _availability(name: str, state: str) -> str:
    from tracker.collect.options import load_sources_config
    from tracker.scraping import config_path
    from tracker.settings import get_settings

    settings = get_settings()
    if name == "scrape":
        return "ready" if config_path(state).is_file() else f"no config/states/{state}.yaml"
    if name == "openstates-api":
        return "ready" if settings.openstates_api_key else "no key (TRACKER_OPENSTATES_API_KEY)"
    if name == "legiscan-api":
        return "ready" if settings.legiscan_api_key else "no key (TRACKER_LEGISCAN_API_KEY)"
    files = load_sources_config().sources.bulk(name).files.get(state)
    return f"{len(files)} file(s)" if files else "no files configured"


@app.command("list")
def list_sources(state: StateOpt = None, as_json: JsonOpt = False) -> None:
    """Show the order of sources per state and whether each is usable here.

    Example: tracker sources list --state wa
    """
    from tracker.collect.options import load_sources_config
    from tracker.vocab import STATE_NAMES

    config = load_sources_config()
    states = [state.lower()] if state else sorted(s for s in STATE_NAMES if s != "us")
    if state and state.lower() not in STATE_NAMES:
        raise typer.BadParameter(f"{state!r} is not a state code", param_hint="--state")
    rows: list[dict[str, Any]] = [
        {
            "state": st,
            "strategy": config.strategy_for(st),
            "order": [
                {"source": n, "available": _availability(n, st)} for n in config.order_for(st)
            ],
        }
        for st in states
    ]
    if as_json:
        out.print_json(
            json.dumps({"config": config.path, "default": config.default, "states": rows})
        )
        return
    out.print(f"config: {config.path or '(defaults)'}; default order: {', '.join(config.default)}")
    for row in rows:
        usable = [
            o["source"]
            for o in row["order"]
            if o["available"] == "ready" or o["available"].endswith("file(s)")
        ]
        first = usable[0] if usable else "none usable"
        parts = ", ".join(f"{o['source']} ({o['available']})" for o in row["order"])
        out.print(f"{row['state']}: {parts} -> uses {first} [{row['strategy']}]", highlight=False)


@app.command("status")
def status(
    as_json: JsonOpt = False, limit: Annotated[int, typer.Option(help="disagreements to show")] = 20
) -> None:
    """This month's API calls against the quotas, LegiScan tracking, open disagreements.

    Example: tracker sources status --json
    """
    from tracker.sources_health import disagreements, legiscan_tracking, quota_usage

    engine = _engine()
    usage = quota_usage(engine)
    tracking = legiscan_tracking(engine)
    open_rows = disagreements(engine, limit=limit)
    if as_json:
        payload: dict[str, Any] = {
            "quota": [{**u.__dict__, "exhausted": u.exhausted} for u in usage],
            "legiscan": tracking,
            "disagreements": open_rows,
        }
        out.print_json(json.dumps(payload, default=str))
        return
    for u in usage:
        out.print(u.line(), highlight=False)
    out.print(
        f"legiscan bills: {tracking['known']} known, {tracking['followed']} followed, "
        f"{tracking['changed_not_fetched']} changed and not yet fetched",
        highlight=False,
    )
    out.print(f"open disagreements between sources: {len(open_rows)}", highlight=False)
    for row in open_rows:
        out.print(
            f"  {row['state'].upper()} {row['session']} {row['identifier']}: {row['kind']} "
            f"({row['source_a']} vs {row['source_b']}) {json.dumps(row['detail'])[:160]}",
            highlight=False,
            markup=False,
        )


def _print_results(results: list[Any], as_json: bool) -> None:
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "source": r.source,
                        "state": r.state,
                        "status": r.status,
                        "message": r.message,
                        **r.counts(),
                    }
                    for r in results
                ]
            )
        )
    else:
        for r in results:
            out.print(r.line(), highlight=False, markup=False)


@app.command("run")
def run(
    state: Annotated[str, typer.Argument(help="state code, e.g. ca")],
    source: Annotated[str | None, typer.Option("--source", help="run only this source")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a state's sources once in order of preference; exit 1 if none worked.

    Example: TRACKER_LEGISCAN_API_KEY=... tracker sources run ca --source legiscan-api
    """
    from tracker.collect.runner import run_state_sources

    results = run_state_sources(_engine(), state, only=source)
    _print_results(results, as_json)
    if not any(r.succeeded for r in results):
        raise typer.Exit(1)


@app.command("discover")
def discover(
    source: Annotated[
        str | None, typer.Option("--source", help="openstates-api or legiscan-api")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """National keyword search; relevant results are followed and ingested.

    Example: tracker sources discover --source legiscan-api
    """
    from tracker.collect.runner import run_discovery

    results = run_discovery(_engine(), only=source)
    _print_results(results, as_json)
    if results and all(r.status == "failed" for r in results):
        raise typer.Exit(1)
