"""Running the service: what `tracker run` starts, watches and stops (and the demo's site).

One module per concern, each importing only the standard library at module level, so that
`tracker --help` (which reads the `run` command's help) loads none of uvicorn, FastAPI or
APScheduler:

- :mod:`tracker.service.supervisor`: :func:`~tracker.service.supervisor.run_service`, the whole
  of `tracker run`: migrate, start the job process, serve, stop cleanly on a signal;
  :func:`~tracker.service.supervisor.serve_here`, the demo's site with its scheduler in
  process, stopped the same way.
- :mod:`tracker.service.signals`: SIGINT/SIGTERM (the first stops cleanly, a second quits at
  once), how long a stop may take, the fast exit.
- :mod:`tracker.service.jobprocess`: the scheduler and its jobs in a child process.
- :mod:`tracker.service.web`: the web server, in this process or as `--workers N` uvicorn
  processes (which read the job process's role from a file the parent keeps current).
- :mod:`tracker.service.logs`: one log handler, readable or one JSON object per line.
"""
