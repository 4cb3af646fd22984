#!/usr/bin/env python3
"""Small backends for the quickstart: each answers with its own name.

Usage: backends.py http:NAME@HOST:PORT ... tcp:NAME@HOST:PORT ...
HTTP backends answer every request with "NAME: METHOD PATH"; TCP backends
greet each connection with "NAME" and then echo what they receive.
"""
import http.server
import socketserver
import sys
import threading


def http_server(name, host, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = f"{name}: {self.command} {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def tcp_server(name, host, port):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(f"{name}\n".encode())
            while data := self.request.recv(4096):
                self.request.sendall(data)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(specs):
    servers = []
    for spec in specs:
        kind, rest = spec.split(":", 1)
        name, address = rest.split("@", 1)
        host, port = address.rsplit(":", 1)
        make = http_server if kind == "http" else tcp_server
        servers.append(make(name, host, int(port)))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    print(f"backends: {len(servers)} up", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1:])
