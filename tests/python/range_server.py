"""A static file server on 127.0.0.1 with HTTP Range support, for `data fetch` tests.

usage: range_server.py ROOT PORT_FILE [--cut-first N]
Writes the chosen port to PORT_FILE. With --cut-first N, the first full GET of each file
sends only N bytes of it and closes the connection (an interrupted download). Every request
line and its Range header are appended to ROOT/../requests.log. Stops after 120 s.
"""
import http.server
import os
import sys
import threading

root, port_file = sys.argv[1], sys.argv[2]
cut = int(sys.argv[sys.argv.index("--cut-first") + 1]) if "--cut-first" in sys.argv else None
served_full = set()
log_path = os.path.join(os.path.dirname(os.path.abspath(root)), "requests.log")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        with open(log_path, "a") as log:
            log.write(f"GET {self.path} {rng}\n")
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut is not None and not rng and self.path not in served_full:
            served_full.add(self.path)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
threading.Timer(120, server.shutdown).start()
server.serve_forever()
