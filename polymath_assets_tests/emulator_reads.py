"""Read-only views of the emulator for the control-plane tests: its own job list (over
HTTP, as the provider would show it) and the request keys in each job's input file (from
its file store on disk). Nothing here changes the emulator."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never via a proxy


@dataclass(frozen=True)
class ProviderJob:
    name: str
    display_name: str
    state: str
    request_count: int
    keys: tuple[str, ...]


def provider_jobs(base_url: str, state_dir: Path) -> list[ProviderJob]:
    found, token = [], ""
    while True:
        url = f"{base_url}/v1beta/batches?pageSize=100" + (f"&pageToken={token}" if token else "")
        request = urllib.request.Request(url, headers={"x-goog-api-key": "offline-emulator"})
        with _DIRECT.open(request, timeout=30) as response:
            page = json.loads(response.read())
        for op in page.get("operations", []):
            meta = op["metadata"]
            file_name = meta["inputConfig"].get("fileName") or meta["inputConfig"].get("file_name")
            path = Path(state_dir) / "files" / file_name.removeprefix("files/")
            keys = tuple(json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip())
            found.append(ProviderJob(op["name"], meta.get("displayName", ""), meta["state"].removeprefix("BATCH_STATE_"),
                                     int(meta.get("batchStats", {}).get("requestCount", 0)), keys))
        token = page.get("nextPageToken", "")
        if not token:
            return found


def submissions(jobs: list[ProviderJob], *, include_failed: bool = True) -> Counter:
    """request key -> how many provider jobs it was submitted in."""
    counts: Counter = Counter()
    for job in jobs:
        if include_failed or job.state not in ("FAILED", "EXPIRED", "CANCELLED"):
            counts.update(job.keys)
    return counts


def service_submissions(home: Path, *, include_failed: bool = True) -> Counter:
    """``submissions`` of the emulator running as a service under a POLYMATH_HOME (empty if none runs)."""
    from polymath_assets.local import emulator_service

    running = emulator_service._running(home)
    if running is None:
        return Counter()
    return submissions(provider_jobs(emulator_service.base_url(running[1]), Path(home) / "emulator" / "state"),
                       include_failed=include_failed)
