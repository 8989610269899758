"""The embedded read-only HTTP server (`[http_server]`): health, Prometheus metrics, the JSON API, the
Atom feed of what the bot announced, and a status page.

Modules: `metrics` (the counters the impure layers increment, and what is read from the state at
scrape time), `server` (aiohttp application, start/stop), `routes` (health, metrics), `api` (JSON API,
OpenAPI document), `feed` (Atom), `page` (the status page), `views` (what the API and page show).
This package file imports nothing: `bot.delivery` and the sinks import `bot.web.metrics` alone.
"""
