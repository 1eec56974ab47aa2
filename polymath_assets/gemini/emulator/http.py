"""The emulator's HTTP face: routes of the Batch and Files APIs onto the tables, replies in
Google's JSON error format, and the lost-reply fault (the job exists, the caller never hears)."""

from __future__ import annotations

import json
import re
import shutil
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from polymath_assets.gemini.emulator.jobs import ReplyLost
from polymath_assets.gemini.emulator.store import ApiError

if TYPE_CHECKING:
    from polymath_assets.gemini.emulator import GeminiEmulator

_VERSION = r"(?P<v>v1|v1beta)"
_ROUTES: list[tuple[str, re.Pattern, str]] = [(method, re.compile(pattern + r"$"), action) for method, pattern, action in [
    ("POST", rf"/upload/{_VERSION}/files", "upload"),
    ("GET", rf"(?:/download)?/{_VERSION}/files/(?P<id>[^/:]+):download", "download"),
    ("GET", rf"/{_VERSION}/files", "list_files"),
    ("GET", rf"/{_VERSION}/files/(?P<id>[^/:]+)", "get_file"),
    ("DELETE", rf"/{_VERSION}/files/(?P<id>[^/:]+)", "delete_file"),
    ("POST", rf"/{_VERSION}/models/(?P<model>[^/:]+):batchGenerateContent", "create_job"),
    ("POST", rf"/{_VERSION}/models/(?P<model>[^/:]+):countTokens", "count_tokens"),
    ("GET", rf"/{_VERSION}/batches", "list_jobs"),
    ("GET", rf"/{_VERSION}/batches/(?P<id>[^/:]+)", "get_job"),
    ("POST", rf"/{_VERSION}/batches/(?P<id>[^/:]+):cancel", "cancel_job"),
    ("DELETE", rf"/{_VERSION}/batches/(?P<id>[^/:]+)", "delete_job"),
]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, *args) -> None:  # the SDK polls a lot; keep test output clean
        pass

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {name: values[0] for name, values in parse_qs(url.query).items()}
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.upload_headers: dict[str, str] = {}
        try:
            for route_method, pattern, action in _ROUTES:
                match = pattern.match(url.path)
                if match and route_method == method:
                    # Upload chunk URLs carry their own id in place of the API key.
                    if not (action == "upload" and "upload_id" in self.query) and not self.headers.get("x-goog-api-key"):
                        raise ApiError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
                    body = getattr(self, action)(**match.groupdict())
                    return None if body is None else self._reply(200, body)
            raise ApiError(404, "NOT_FOUND", f"No route for {method} {url.path}.")
        except ReplyLost as lost:
            self._lose_reply(lost)
        except ApiError as error:
            self._reply(error.code, error.body())
        except Exception as error:  # a bug here must still answer, or the client hangs on keep-alive
            self._reply(500, ApiError(500, "INTERNAL", repr(error)).body())

    def _lose_reply(self, lost: ReplyLost) -> None:
        if lost.mode == "503":
            self._reply(503, ApiError(503, "UNAVAILABLE", "The service is currently unavailable.").body())
            return
        if lost.mode == "timeout":
            time.sleep(self.emulator.faults.ambiguous_delay_s)
            self._reply(200, lost.operation)  # too late for a client with a shorter timeout
            return
        # "drop": close the connection without a status line.
        self.close_connection = True
        self.wfile.flush()

    @property
    def emulator(self) -> GeminiEmulator:
        return self.server.emulator  # type: ignore[attr-defined]

    def _json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid JSON payload: {error}.") from None

    def _reply(self, code: int, body: dict | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(code)
            for name, value in {**self.upload_headers, **(headers or {})}.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The caller stopped waiting (a held or delayed reply past its timeout): nobody to tell.
            self.close_connection = True

    def upload(self, v: str) -> None:
        emulator = self.emulator
        upload_id = self.query.get("upload_id")
        if upload_id is None:
            url = emulator.files.start_upload(
                lambda uid: f"{emulator.base_url}/upload/{v}/files?upload_id={uid}", self.headers, self._json())
            return self._reply(200, None, {"x-goog-upload-url": url, "x-goog-upload-status": "active"})
        command = self.headers.get("X-Goog-Upload-Command", "")
        # Every chunk reply carries a status, or the SDK re-sends with sleeps; errors end it.
        self.upload_headers = {"x-goog-upload-status": "final"}
        body = emulator.files.upload_chunk(upload_id, int(self.headers.get("X-Goog-Upload-Offset") or 0),
                                           self.body, "finalize" in command, emulator.faults.reject_mime_types)
        self.upload_headers = {"x-goog-upload-status": "final" if body else "active"}
        self._reply(200, body)

    def download(self, v: str, id: str) -> None:
        stored = self.emulator.files.get(id)
        if stored.source != "GENERATED":
            raise ApiError(400, "INVALID_ARGUMENT", "Only generated files can be downloaded.")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(stored.path.stat().st_size))
        self.end_headers()
        with open(stored.path, "rb") as stream:  # streamed: result files can be large
            shutil.copyfileobj(stream, self.wfile)

    def _paging(self) -> tuple[int, str]:
        return int(self.query.get("pageSize", 0)), self.query.get("pageToken", "")

    # The actions below return the JSON body of a 200 reply.
    def list_files(self, v: str) -> dict:
        return self.emulator.files.list(*self._paging())

    def get_file(self, v: str, id: str) -> dict:
        return self.emulator.files.get(id).resource()

    def delete_file(self, v: str, id: str) -> dict:
        self.emulator.files.delete(id)
        return {}

    def create_job(self, v: str, model: str) -> dict:
        return self.emulator.jobs.create(model, self._json().get("batch") or {})

    def count_tokens(self, v: str, model: str) -> dict:
        return self.emulator.count_tokens(self._json())

    def list_jobs(self, v: str) -> dict:
        return self.emulator.jobs.list(*self._paging())

    def get_job(self, v: str, id: str) -> dict:
        self.emulator.before_status()  # the hold_status fault
        return self.emulator.jobs.operation(f"batches/{id}")

    def cancel_job(self, v: str, id: str) -> dict:
        self.emulator.jobs.cancel(f"batches/{id}")
        return {}

    def delete_job(self, v: str, id: str) -> dict:
        self.emulator.jobs.delete(f"batches/{id}")
        return {}
