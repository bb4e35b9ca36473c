"""A Hugging Face hub on localhost, for tests: the hub's HTTP protocol for the calls a pull
and a push make (create a repo, preupload, commit, validate a model card, resolve a file), with
repos in memory. The real ``huggingface_hub`` client — and timm's hub loader — talk to it as
they would to huggingface.co; writes need the token the hub was made with, as there.
"""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit)/(?P<revision>[^/?]+)")


class LocalHub:
    def __init__(self, token):
        self.token = token
        self.repos = {}  # repo id -> list of (commit oid, {path: bytes}), oldest first
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def put(self, repo_id, files):
        """Commit ``files`` (path -> bytes) to a repo, creating it; returns the commit oid."""
        history = self.repos.setdefault(repo_id, [])
        merged = {**(history[-1][1] if history else {}), **files}
        oid = hashlib.sha1(repr((len(history), sorted(merged.items()))).encode()).hexdigest()
        history.append((oid, merged))
        return oid

    def files(self, repo_id, revision="main"):
        """(oid, files) of a revision: main is the newest commit; a commit oid is itself."""
        history = self.repos[repo_id]
        if revision == "main":
            return history[-1]
        return next((commit for commit in history if commit[0] == revision), (None, None))


def _handler(hub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # the test output is not the place for an access log
            pass

        def do_HEAD(self):
            self._resolve(body=False)

        def do_GET(self):
            self._resolve(body=True)

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self._answer(401, {"error": "Invalid credentials in Authorization header"})
            if self.path == "/api/validate-yaml":
                return self._answer(200, {})
            if self.path == "/api/repos/create":
                request = json.loads(data)
                repo_id = f"{request['organization']}/{request['name']}"
                created = {"url": f"{hub.url}/{repo_id}", "name": repo_id}
                if repo_id in hub.repos:
                    return self._answer(409, {"error": "You already created this model repo", **created})
                hub.put(repo_id, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
                return self._answer(200, created)
            match = API.match(self.path)
            if match is None or match["repo"] not in hub.repos:
                return self._answer(404, {"error": "Repository not found"}, error_code="RepoNotFound")
            if match["action"] == "preupload":
                paths = [item["path"] for item in json.loads(data)["files"]]
                return self._answer(200, {"files": [{"path": path, "uploadMode": "regular", "shouldIgnore": False}
                                                    for path in paths]})  # fmt: skip
            files = {}
            for line in data.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            oid = hub.put(match["repo"], files)
            return self._answer(200, {"commitUrl": f"{hub.url}/{match['repo']}/commit/{oid}", "commitOid": oid,
                                      "pullRequestUrl": None})  # fmt: skip

        def _resolve(self, body):
            match = RESOLVE.match(self.path)
            if match is None or match["repo"] not in hub.repos:
                return self._answer(404, {"error": "Repository not found"}, error_code="RepoNotFound", body=body)
            oid, files = hub.files(match["repo"], match["revision"])
            if oid is None:
                return self._answer(404, {"error": "Invalid rev id"}, error_code="RevisionNotFound", body=body)
            content = files.get(match["path"])
            if content is None:
                return self._answer(404, {"error": "Entry not found"}, error_code="EntryNotFound", body=body,
                                    headers={"X-Repo-Commit": oid})  # fmt: skip
            self.send_response(200)
            self.send_header("X-Repo-Commit", oid)
            self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if body:
                self.wfile.write(content)

        def _answer(self, status, document, *, error_code=None, body=True, headers=None):
            content = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            for name, value in {**(headers or {}), **({"X-Error-Code": error_code} if error_code else {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(content)

    return Handler
