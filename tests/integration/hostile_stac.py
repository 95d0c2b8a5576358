#!/usr/bin/env python3
"""A STAC API that answers every search with the bytes of one file.

    hostile_stac.py DIR PORTFILE

GET / answers DIR/landing.json (a search link to POST /search is made up
when it is missing); POST or GET /search answers DIR/search.json verbatim,
whatever the request, read again at each request so that a test can swap
it. Unlike the fixture server, it never parses what it serves: pages may
hold NaN, control characters, a nesting 100000 deep or 80 MiB. Requests
are appended to DIR/requests.log (method path, one a line).
"""
import http.server
import os
import sys

D = sys.argv[1]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, path):
        with open(os.path.join(D, "requests.log"), "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        if path is None or not os.path.exists(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            with open(path, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    self.wfile.write(b)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        p = self.path.split("?")[0].rstrip("/")
        if p == "":
            self.answer(os.path.join(D, "landing.json"))
        elif p == "/search":
            self.answer(os.path.join(D, "search.json"))
        else:
            self.answer(None)

    do_GET = do_POST = route


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
