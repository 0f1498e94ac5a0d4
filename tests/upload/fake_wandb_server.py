#!/usr/bin/env python3
"""A W&B-protocol test server on loopback for trainscope's upload tests.

Speaks the parts of W&B's API the uploader uses (docs/upload.md): POST /graphql (RunResumeStatus,
UpsertBucket, CreateRunFiles), POST /files/<entity>/<project>/<run>/file_stream, and PUT to the
signed upload URLs it hands out. Runs exist once upserted (UpsertBucket answers "inserted" as W&B
does); history lines are parsed as W&B's backend does, NaN/Infinity tokens included. Any other
path gets an HTML 404 page, as a web server that is not W&B would answer. It records what it receives, assembles history by offset the way W&B does
(a resent line at a known offset replaces, it is not appended), stores uploaded files, and injects
faults on request.

Control (no auth, loopback only):
  GET  /_control/state     everything recorded, as JSON
  POST /_control/faults    {"rules": [...], "clear": bool} (clear empties the fault list first);
                           rules are appended to the fault list; a rule is
                           {"path": prefix, "action": "status"|"drop"|"delay"|"html"|
                                                      "truncated"|"echo_auth",
                            "status": 500, "retry_after": "1", "delay_ms": 1500, "count": n,
                            "skip": n (let that many matching requests through first)}
                           servers that lie: "html" answers 200 text/html without handling the
                           request (a captive portal); "truncated" handles it and answers 200 with
                           half of the JSON; "echo_auth" answers 401 with an HTML page that echoes
                           the request's Authorization header (as some proxies do)
  POST /_control/slow      {"delay_ms": n}: every request waits n ms before it is handled
  POST /_control/down      {"ms": n}: stop listening and refuse work for n ms, then come back
  POST /_control/shutdown  exit
It exits by itself after --lifetime seconds, and writes the record to --record on exit.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

MAX_REQUEST_BYTES = 10 << 20
MAX_LINE_BYTES = (10 << 20) - (100 << 10)


class Recorder:
    def __init__(self, store_dir, api_key, entity):
        self.lock = threading.Lock()
        self.store_dir = store_dir
        self.api_key = api_key
        self.default_entity = entity
        self.started = time.time()
        self.requests = []        # every request: t, method, path, status, fault
        self.upserts = []         # UpsertBucket variables
        self.history = []         # wandb-history.jsonl as assembled by offset
        self.history_receipts = 0  # lines received in total (resends included)
        self.resent_lines = 0     # lines received again at an offset already held, same content
        self.conflicts = []       # a line at a held offset with different content
        self.gaps = []            # an offset beyond the end (a line would be missing)
        self.runs = {}            # "entity/project/name" -> {"history_lines": n}
        self.history_nonfinite = {}  # history index -> {key: "nan"|"inf"|"-inf"} as parsed
        self.events = []          # wandb-events.jsonl as assembled by offset
        self.uploaded = []        # every "uploaded" list received, in order
        self.final_uploaded = None  # the "uploaded" list of the complete request
        self.puts_in_flight = 0
        self.max_puts_in_flight = 0
        self.summary = None
        self.summary_updates = 0
        self.complete = False
        self.exitcode = None
        self.files = {}           # name -> {size, sha256, puts}
        self.put_with_authorization = 0
        self.put_missing_headers = 0
        self.unauthorized = 0
        self.oversize = []
        self.rules = []
        self.slow_ms = 0
        self.down_until = 0.0
        self.upload_token = base64.urlsafe_b64encode(os.urandom(9)).decode()

    def snapshot(self):
        with self.lock:
            return {
                "requests": list(self.requests), "upserts": list(self.upserts),
                "history": list(self.history), "history_receipts": self.history_receipts,
                "resent_lines": self.resent_lines, "conflicts": list(self.conflicts),
                "gaps": list(self.gaps), "summary": self.summary,
                "summary_updates": self.summary_updates, "complete": self.complete,
                "exitcode": self.exitcode, "files": dict(self.files),
                "put_with_authorization": self.put_with_authorization,
                "put_missing_headers": self.put_missing_headers,
                "unauthorized": self.unauthorized, "oversize": list(self.oversize),
                "runs": dict(self.runs), "history_nonfinite": dict(self.history_nonfinite),
                "events": list(self.events), "uploaded": list(self.uploaded),
                "final_uploaded": self.final_uploaded,
                "max_puts_in_flight": self.max_puts_in_flight,
            }

    def take_fault(self, path):
        with self.lock:
            for rule in self.rules:
                if rule["count"] <= 0 or not path.startswith(rule["path"]):
                    continue
                if rule.get("skip", 0) > 0:
                    rule["skip"] -= 1
                    return None
                rule["count"] -= 1
                return dict(rule)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answers go out at once, not after a delayed ACK
    server_version = "fake-wandb/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- plumbing ----------------------------------------------------------------------
    @property
    def rec(self):
        return self.server.recorder

    def reply(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request_record(self, status, fault=None, size=0):
        with self.rec.lock:
            self.rec.requests.append({"t": time.time() - self.rec.started, "method": self.command,
                                      "path": self.path.split("?")[0], "status": status,
                                      "fault": fault, "bytes": size})

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def authorized(self):
        expected = "Basic " + base64.b64encode(("api:" + self.rec.api_key).encode()).decode()
        return self.headers.get("Authorization") == expected

    # ---- dispatch ----------------------------------------------------------------------
    def do_GET(self):
        if self.path == "/_control/state":
            return self.reply(200, self.rec.snapshot())
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def handle_any(self):
        path = self.path.split("?")[0]
        if path.startswith("/_control/"):
            return self.control(path)
        if time.time() < self.rec.down_until:
            return self.drop()
        is_put = self.command == "PUT" and path.startswith("/_upload/")
        if is_put:
            with self.rec.lock:
                self.rec.puts_in_flight += 1
                self.rec.max_puts_in_flight = max(self.rec.max_puts_in_flight, self.rec.puts_in_flight)
        try:
            self.handle_api(path)
        finally:
            if is_put:
                with self.rec.lock:
                    self.rec.puts_in_flight -= 1

    def handle_api(self, path):
        if self.rec.slow_ms:
            time.sleep(self.rec.slow_ms / 1000.0)
        length = int(self.headers.get("Content-Length", "0"))
        fault = self.rec.take_fault(path)
        if fault and fault["action"] == "drop":
            # Read part of the body, then hang up without answering.
            self.rfile.read(min(length, max(1, length // 2)))
            self.log_request_record(0, "drop", length)
            return self.drop()
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-request: nothing was delivered
            self.log_request_record(0, "client-gone", len(body))
            return self.drop()
        if fault and fault["action"] == "status":
            headers = {"Retry-After": fault["retry_after"]} if fault.get("retry_after") else {}
            self.log_request_record(fault["status"], "status", length)
            return self.reply(fault["status"], {"error": "injected"}, headers)
        if fault and fault["action"] == "html":
            self.log_request_record(200, "html", length)
            page = b"<html><body><h1>Welcome to HotelWiFi</h1><p>Please log in.</p></body></html>"
            return self.reply(200, page, content_type="text/html")
        if fault and fault["action"] == "echo_auth":
            self.log_request_record(401, "echo_auth", length)
            page = ("<html><body><h1>401 Authorization Required</h1><pre>Authorization: " +
                    self.headers.get("Authorization", "") + "\n" + "request details " * 100 +
                    "</pre></body></html>").encode()
            return self.reply(401, page, content_type="text/html")
        if self.command == "PUT" and path.startswith("/_upload/"):
            status, answer = self.put_file(path, body)
        elif path != "/graphql" and not (path.startswith("/files/") and path.endswith("/file_stream")):
            self.log_request_record(404, None, length)
            page = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
            return self.reply(404, page, content_type="text/html")
        elif not self.authorized():
            with self.rec.lock:
                self.rec.unauthorized += 1
            status, answer = 401, {"errors": [{"message": "user is not logged in"}]}
        elif path == "/graphql":
            status, answer = self.graphql(body)
        elif path.endswith("/file_stream") and path.startswith("/files/"):
            status, answer = self.file_stream(path, body)
        else:
            self.log_request_record(404, None, length)
            page = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
            return self.reply(404, page, content_type="text/html")
        self.log_request_record(status, fault["action"] if fault else None, length)
        if fault and fault["action"] == "delay":
            # Handled, but the answer comes too late: the client must not count it twice.
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault and fault["action"] == "truncated":
            answer = json.dumps(answer).encode()
            answer = answer[:len(answer) // 2]
        try:
            self.reply(status, answer)
        except OSError:
            pass

    def control(self, path):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        rec = self.rec
        if path == "/_control/faults":
            with rec.lock:
                if body.get("clear"):
                    rec.rules = []
                for rule in body.get("rules", []):
                    rule.setdefault("count", 1)
                    rec.rules.append(rule)
        elif path == "/_control/slow":
            rec.slow_ms = int(body.get("delay_ms", 0))
        elif path == "/_control/down":
            ms = int(body.get("ms", 0))
            rec.down_until = time.time() + ms / 1000.0
            self.server.go_down(ms)
        elif path == "/_control/shutdown":
            self.reply(200, {})
            self.server.finish()
            return
        else:
            return self.reply(404, {})
        self.reply(200, {})

    # ---- W&B endpoints -----------------------------------------------------------------
    def graphql(self, body):
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"errors": [{"message": "body is not JSON"}]}
        query = request.get("query", "")
        variables = request.get("variables", {})
        if "RunResumeStatus" in query:
            entity = variables.get("entity") or self.rec.default_entity
            key = "%s/%s/%s" % (entity, variables.get("project"), variables.get("name"))
            with self.rec.lock:
                run = self.rec.runs.get(key)
                bucket = None if run is None else {
                    "id": "UnVuOjE=", "name": variables.get("name"),
                    "historyLineCount": run["history_lines"], "eventsLineCount": run["events_lines"]}
            return 200, {"data": {"model": {"name": variables.get("project"),
                                            "entity": {"name": entity}, "bucket": bucket}}}
        if "upsertBucket" in query:
            config = json.loads(variables.get("config") or "{}")
            entity = variables.get("entity") or self.rec.default_entity
            key = "%s/%s/%s" % (entity, variables.get("project"), variables.get("name"))
            with self.rec.lock:
                inserted = key not in self.rec.runs
                self.rec.runs.setdefault(key, {"history_lines": 0, "events_lines": 0})
                self.rec.upserts.append({"name": variables.get("name"),
                                         "project": variables.get("project"),
                                         "entity": variables.get("entity"), "config": config,
                                         "host": variables.get("host"),
                                         "program": variables.get("program"),
                                         "displayName": variables.get("displayName"),
                                         "notes": variables.get("notes"),
                                         "groupName": variables.get("groupName"),
                                         "jobType": variables.get("jobType"),
                                         "tags": variables.get("tags"),
                                         # a GraphQL server refuses variables the operation
                                         # does not declare
                                         "undeclared": sorted(k for k in variables
                                                              if ("$%s:" % k) not in query),
                                         "inserted": inserted})
            return 200, {"data": {"upsertBucket": {"inserted": inserted, "bucket": {
                "id": "UnVuOjE=", "name": variables.get("name"),
                "project": {"name": variables.get("project"), "entity": {"name": entity}}}}}}
        if "createRunFiles" in query:
            host = self.headers.get("Host")
            scheme = "https" if self.server.controller.tls else "http"
            files = [{"name": n, "uploadUrl": "%s://%s/_upload/%s?token=%s" %
                      (scheme, host, n, self.rec.upload_token)} for n in variables.get("files", [])]
            return 200, {"data": {"createRunFiles": {
                "runID": "UnVuOjE=", "files": files,
                "uploadHeaders": ["X-Upload-Token:" + self.rec.upload_token,
                                  "Content-Type:application/octet-stream"]}}}
        return 400, {"errors": [{"message": "unknown operation"}]}

    def file_stream(self, path, body):
        if len(body) > MAX_REQUEST_BYTES:
            with self.rec.lock:
                self.rec.oversize.append("request of %d bytes" % len(body))
            return 413, {"error": "request too large"}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        rec = self.rec
        run_key = "/".join(path.split("/")[2:5])
        with rec.lock:
            if "uploaded" in request:
                rec.uploaded.append(request["uploaded"])
                if request.get("complete"):
                    rec.final_uploaded = request["uploaded"]
            for name, chunk in request.get("files", {}).items():
                offset, content = chunk["offset"], chunk["content"]
                for line in content:
                    if len(line.encode()) > MAX_LINE_BYTES:
                        rec.oversize.append("line of %d bytes" % len(line.encode()))
                if name == "wandb-history.jsonl":
                    for i, line in enumerate(content):
                        index = offset + i
                        rec.history_receipts += 1
                        row = json.loads(line)  # W&B's tokens: NaN, Infinity, -Infinity
                        odd = {k: repr(v) for k, v in row.items()
                               if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))}
                        if odd:
                            rec.history_nonfinite[str(index)] = odd
                        if index < len(rec.history):
                            if rec.history[index] == line:
                                rec.resent_lines += 1
                            else:
                                rec.conflicts.append(index)
                                rec.history[index] = line
                        elif index == len(rec.history):
                            rec.history.append(line)
                        else:
                            rec.gaps.append(index)
                elif name == "wandb-events.jsonl":
                    for i, line in enumerate(content):
                        index = offset + i
                        if index < len(rec.events):
                            rec.events[index] = line
                        elif index == len(rec.events):
                            rec.events.append(line)
                        else:
                            rec.gaps.append("events %d" % index)
                elif name == "wandb-summary.json":
                    # Non-finite values (sent as tokens) are kept as "nonfinite:<repr>" so that the
                    # control API's answer stays strict JSON.
                    rec.summary = {k: ("nonfinite:" + repr(v)) if isinstance(v, float) and
                                   (v != v or v in (float("inf"), float("-inf"))) else v
                                   for k, v in json.loads(content[-1]).items()}
                    rec.summary_updates += 1
            if run_key in rec.runs:
                rec.runs[run_key]["history_lines"] = len(rec.history)
                rec.runs[run_key]["events_lines"] = len(rec.events)
            if request.get("complete"):
                rec.complete = True
                rec.exitcode = request.get("exitcode")
        return 200, {"exitcode": None, "limits": {}}

    def put_file(self, path, body):
        rec = self.rec
        query = parse_qs(urlsplit(self.path).query)
        if query.get("token", [""])[0] != rec.upload_token:
            return 403, {"error": "bad signature"}
        name = path[len("/_upload/"):]
        with rec.lock:
            if self.headers.get("Authorization") is not None:
                rec.put_with_authorization += 1
            if self.headers.get("X-Upload-Token") != rec.upload_token:
                rec.put_missing_headers += 1
            target = os.path.join(rec.store_dir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(body)
            entry = rec.files.setdefault(name, {"puts": 0})
            entry.update(size=len(body), sha256=hashlib.sha256(body).hexdigest())
            entry["puts"] += 1
        return 200, {}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, recorder, controller):
        super().__init__(("127.0.0.1", port), Handler)
        self.recorder = recorder
        self.controller = controller

    def go_down(self, ms):
        self.controller.go_down(ms)

    def finish(self):
        self.controller.finish()


class Controller:
    """Runs the server; can close the listening socket for a while and reopen it on the same port."""

    def __init__(self, recorder, port, lifetime, tls=None):
        self.tls = tls  # an ssl.SSLContext: serve HTTPS
        self.recorder = recorder
        self.port = port
        self.deadline = time.time() + lifetime
        self.done = threading.Event()
        self.server = None
        self.down_ms = 0
        self.lock = threading.Lock()

    def go_down(self, ms):
        with self.lock:
            self.down_ms = ms
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def finish(self):
        self.done.set()
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def run(self, port_file):
        threading.Thread(target=self.watchdog, daemon=True).start()
        first = True
        while not self.done.is_set():
            self.server = Server(self.port, self.recorder, self)
            if self.tls:
                self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
            self.port = self.server.server_address[1]
            if first:
                tmp = port_file + ".tmp"
                with open(tmp, "w") as f:
                    f.write(str(self.port))
                os.rename(tmp, port_file)
                first = False
            self.server.serve_forever(poll_interval=0.05)
            self.server.server_close()
            with self.lock:
                ms, self.down_ms = self.down_ms, 0
            if ms and not self.done.is_set():
                time.sleep(ms / 1000.0)

    def watchdog(self):
        while not self.done.wait(0.2):
            if time.time() > self.deadline:
                self.finish()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--store-dir", required=True)
    parser.add_argument("--record")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--entity", default="test-entity")
    parser.add_argument("--lifetime", type=float, default=120)
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    recorder = Recorder(args.store_dir, args.api_key, args.entity)
    Controller(recorder, 0, args.lifetime, tls).run(args.port_file)
    if args.record:
        with open(args.record, "w") as f:
            json.dump(recorder.snapshot(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
