"""gzip for the scripts and stylesheets a page loads: about 5 MB of JavaScript and CSS, a quarter of that
gzipped. Each file is compressed once per process (component files are fingerprinted, so a path's bytes only
change with a new release); callbacks and exports are left as they are (small, or streamed)."""
from __future__ import annotations

import gzip
import threading
import zlib

from flask import Flask, request

PREFIXES = ("/_dash-component-suites/", "/assets/")
TYPES = ("text/javascript", "application/javascript", "text/css", "application/json")
MIN_BYTES = 1024


def install(server: Flask) -> None:
    packed: dict[tuple, bytes] = {}
    lock = threading.Lock()

    @server.after_request
    def gzip_static(response):
        if (request.method != "GET" or response.status_code != 200 or not request.path.startswith(PREFIXES)
                or response.mimetype not in TYPES or "Content-Encoding" in response.headers
                or "gzip" not in request.headers.get("Accept-Encoding", "")):
            return response
        response.direct_passthrough = False  # a file sent by Flask: read it here
        data = response.get_data()
        if len(data) < MIN_BYTES:
            return response
        key = (request.path, len(data), zlib.crc32(data))
        with lock:
            body = packed.get(key)
        if body is None:
            body = gzip.compress(data, 6)
            with lock:
                packed[key] = body
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        return response
