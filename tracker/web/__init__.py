"""The web app: server-rendered pages, search, feeds and the JSON API (see tracker.web.app)."""
