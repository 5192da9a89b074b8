"""A small local web page of the live monitor: its state and the last minutes' timeline plot.

  /              the page (reloads itself every few seconds)
  /timeline.png  the probability timeline of live_status.History, as `detect` draws it
  /status.json   the state payload the alert targets get

Served by the standard library's threading HTTP server from a daemon thread, on
127.0.0.1 unless told otherwise: it has no login, so expose it on purpose only.
"""
from __future__ import annotations

import html
import http.server
import json
import threading

from babycry_jax import console
from babycry_jax.live_status import History, status_text

log = console.logger()

_RELOAD_S = 5

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{reload}">
<title>{title}</title>
<style>body{{font-family:sans-serif;margin:1em}} .crying{{color:#c00}} img{{max-width:100%}}</style>
</head><body><h1>{title}</h1>
<p class="{state}"><b>{state}</b> &middot; {line}</p>
<img src="timeline.png" alt="crying probability over the last minutes">
</body></html>
"""


def _handler(history: History) -> type:
  class Handler(http.server.BaseHTTPRequestHandler):
    def _send(self, body: bytes, content_type: str) -> None:
      self.send_response(200)
      self.send_header("Content-Type", content_type)
      self.send_header("Content-Length", str(len(body)))
      self.send_header("Cache-Control", "no-store")
      self.end_headers()
      self.wfile.write(body)

    def do_GET(self) -> None:
      path = self.path.split("?", 1)[0]
      snapshot = history.snapshot()
      if path == "/":
        line = status_text(snapshot) if snapshot else "starting"
        state = snapshot.get("state", "starting")
        self._send(_PAGE.format(reload=_RELOAD_S, title=html.escape(history.title),
                                state=html.escape(state), line=html.escape(line)).encode(),
                   "text/html; charset=utf-8")
      elif path == "/timeline.png":
        self._send(history.png(), "image/png")
      elif path == "/status.json":
        self._send(json.dumps(snapshot).encode(), "application/json")
      else:
        self.send_error(404)

    def log_message(self, format, *args) -> None:   # no line per request on the console
      pass
  return Handler


class WebPage:
  """Serves the page on host:port until close(); port 0 picks a free one (see .port)."""

  def __init__(self, history: History, host: str = "127.0.0.1", port: int = 8080):
    try:
      self._server = http.server.ThreadingHTTPServer((host, port), _handler(history))
    except OSError as e:
      raise ValueError(f"cannot serve the web page on {host}:{port}: {e.strerror or e}") from None
    self._server.daemon_threads = True
    self.port = self._server.server_address[1]
    threading.Thread(target=self._server.serve_forever, name="web-page", daemon=True).start()
    log.info("web page on http://%s:%d/", host, self.port)

  def close(self) -> None:
    self._server.shutdown()
    self._server.server_close()
