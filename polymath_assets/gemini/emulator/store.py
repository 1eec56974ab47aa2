"""The emulator's Files API table: resumable uploads, stored and generated files."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PUBLIC_FILES_URL = "https://generativelanguage.googleapis.com/v1beta/files/"
_ID_CHARS = string.ascii_lowercase + string.digits


class ApiError(Exception):
    """An error reply in Google's JSON error format."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def page(items: list, page_size: int, token: str) -> tuple[list, dict]:
    start = int(token or 0)
    end = start + (page_size if page_size > 0 else 50)
    return items[start:end], ({"nextPageToken": str(end)} if end < len(items) else {})


@dataclass
class StoredFile:
    name: str  # "files/<id>"
    path: Path
    mime_type: str
    display_name: str
    size: int
    sha256: bytes
    created: float
    source: str  # UPLOADED or GENERATED

    def resource(self) -> dict:
        file_id = self.name.removeprefix("files/")
        body = {
            "name": self.name, "displayName": self.display_name, "mimeType": self.mime_type,
            "sizeBytes": str(self.size), "createTime": timestamp(self.created),
            "updateTime": timestamp(self.created), "expirationTime": timestamp(self.created + 48 * 3600),
            "sha256Hash": base64.b64encode(self.sha256).decode(),
            # The SDK only strips the https form of a uri back to a file name.
            "uri": PUBLIC_FILES_URL + file_id, "state": "ACTIVE", "source": self.source,
        }
        if self.source == "GENERATED":
            body["downloadUri"] = PUBLIC_FILES_URL.replace("/v1beta/", "/download/v1beta/") + f"{file_id}:download?alt=media"
        return body


class FileStore:
    """Files on disk under ``directory``; the table itself is in memory."""

    def __init__(self, directory: Path, clock: Callable[[], float]):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, dict] = {}

    def start_upload(self, upload_url: Callable[[str], str], headers, body: dict) -> str:
        meta = body.get("file") or {}
        upload_id = new_id(24)
        with self._lock:
            self._uploads[upload_id] = {
                "display_name": meta.get("display_name") or meta.get("displayName") or "",
                "mime_type": headers.get("X-Goog-Upload-Header-Content-Type") or meta.get("mime_type")
                or meta.get("mimeType") or "application/octet-stream",
                "path": self.directory / f"upload-{upload_id}", "received": 0,
            }
        return upload_url(upload_id)

    def upload_chunk(self, upload_id: str, offset: int, data: bytes, finalize: bool,
                     reject_mime_types: set[str]) -> dict | None:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise ApiError(404, "NOT_FOUND", f"Unknown upload {upload_id}.")
        if offset != upload["received"]:
            raise ApiError(400, "INVALID_ARGUMENT", f"Offset {offset} != {upload['received']} bytes received.")
        with open(upload["path"], "ab") as sink:
            sink.write(data)
        upload["received"] += len(data)
        if not finalize:
            return None
        if upload["mime_type"] in reject_mime_types:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unsupported MIME type: {upload['mime_type']}")
        file_id = new_id(12)
        path = upload["path"].rename(self.directory / file_id)
        stored = self.store(f"files/{file_id}", path, upload["mime_type"], upload["display_name"], "UPLOADED")
        with self._lock:
            del self._uploads[upload_id]
        return {"file": stored.resource()}

    def path_for(self, name: str) -> Path:
        return self.directory / name.removeprefix("files/")

    def store(self, name: str, path: Path, mime_type: str, display_name: str, source: str) -> StoredFile:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        stored = StoredFile(name, path, mime_type, display_name, path.stat().st_size, digest.digest(),
                            self.clock(), source)
        with self._lock:
            self._files[name] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(f"files/{file_id}")
        if stored is None:
            raise ApiError(404, "NOT_FOUND", f"File files/{file_id} does not exist.")
        return stored

    def delete(self, file_id: str) -> None:
        stored = self.get(file_id)
        with self._lock:
            self._files.pop(stored.name, None)
        stored.path.unlink(missing_ok=True)

    def list(self, page_size: int, token: str) -> dict:
        with self._lock:
            files = sorted(self._files.values(), key=lambda f: f.created, reverse=True)
        found, next_token = page(files, page_size, token)
        return {"files": [f.resource() for f in found], **next_token}
