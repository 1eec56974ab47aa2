"""Helpers for the UI tests: a real ``dagster-webserver`` on this code location, a small
GraphQL client for its ``/graphql`` endpoint, and headless Chromium for the asset graph.

Field names follow the GraphQL schema of the installed dagster-webserver (1.13), see
``dagster_graphql/schema``. Nothing here needs a network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCATION = "polymath_assets"  # workspace.yaml: location_name
REPOSITORY = "__repository__"  # the implicit repository of a Definitions object
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = ("headless Chromium is needed for the UI tests and {path} was not found; "
                    "install the Debian package: apt-get update && apt-get install -y chromium")


# ---------------------------------------------------------------------------- instance


def write_dagster_home(home: Path, source: Path = REPO / "dagster.yaml") -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml plus what a daemon-less test needs.

    Since Dagster 1.x the default run coordinator is the QueuedRunCoordinator, whose runs
    wait for ``dagster-daemon``; the DefaultRunCoordinator hands a launched run straight to
    the run launcher, so runs launched from the webserver execute without a daemon. The
    "join the community" dialog (shown to 127.0.0.1 origins) is switched off so that it does
    not cover the screenshots."""
    home.mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load(source.read_text()) or {}
    settings["run_coordinator"] = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    settings["nux"] = {"enabled": False}
    settings.setdefault("telemetry", {"enabled": False})
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return home


# ---------------------------------------------------------------------------- GraphQL


class GraphQLError(RuntimeError):
    pass


class GraphQLClient:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.url = base_url.rstrip("/") + "/graphql"
        self.timeout = timeout

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            raise GraphQLError(f"HTTP {err.code} from {self.url}: {err.read()[:2000]!r}") from None
        if answer.get("errors"):
            raise GraphQLError(json.dumps(answer["errors"], indent=1)[:4000])
        return answer["data"]


WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename
          ... on RepositoryLocation { name repositories { name
              jobs { name } sensors { name sensorState { status } } } }
          ... on PythonError { message stack } } } }
    ... on PythonError { message } }
  instance { runQueuingSupported runLauncher { name } }
}"""

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned partitionKeys jobNames
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }"""

LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message } } }"""

RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
    ... on Run { runId status jobName }
    ... on Error { message } } }"""

RUN_ERRORS_QUERY = """
query RunErrors($runId: ID!) { logsForRun(runId: $runId) { __typename
    ... on EventConnection { events { __typename
        ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent { error { message stack } }
        ... on RunFailureEvent { error { message } } } } } }"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def location_entry(client: GraphQLClient, name: str = LOCATION) -> dict | None:
    workspace = client(WORKSPACE_QUERY)["workspaceOrError"]
    return next((e for e in workspace.get("locationEntries", []) if e["name"] == name), None)


def launch_run(client: GraphQLClient, job: str, run_config: dict) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job},
              "runConfigData": run_config}
    result = client(LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise GraphQLError(f"launchRun answered {result['__typename']}: {json.dumps(result)[:4000]}")
    return result["run"]["runId"]


def wait_for_run(client: GraphQLClient, run_id: str, timeout_s: float = 90.0, interval_s: float = 0.5) -> str:
    """The run's final status (SUCCESS, FAILURE, CANCELED); raises if it does not finish."""
    deadline = time.monotonic() + timeout_s
    status = "?"
    while time.monotonic() < deadline:
        status = client(RUN_QUERY, {"runId": run_id})["runOrError"].get("status", "?")
        if status in FINISHED:
            return status
        time.sleep(interval_s)
    raise TimeoutError(f"run {run_id} still {status} after {timeout_s:.0f}s (QUEUED means no run coordinator "
                       f"hands it to the launcher: see write_dagster_home)")


def run_errors(client: GraphQLClient, run_id: str) -> str:
    """Error and warning lines of a run's event log, for an assertion message."""
    events = client(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])
    lines = []
    for event in events:
        if event.get("error"):
            lines.append(f"{event['__typename']}: {event['error']['message']}\n{event['error'].get('stack') or ''}")
        elif event.get("level") in ("ERROR", "CRITICAL", "WARNING"):
            lines.append(f"{event['__typename']}: {event['message']}")
    return "\n".join(lines)[-6000:]


# ---------------------------------------------------------------------------- webserver


class Webserver:
    """``dagster-webserver -w workspace.yaml`` in its own session (process group), so that
    stopping it also stops its code server and the run workers it started."""

    command = ("dagster-webserver",)

    def __init__(self, env: dict[str, str], port: int, log_path: Path, cwd: Path = REPO):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.client = GraphQLClient(self.url, timeout=60.0)
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / self.command[0]), *self.command[1:], "-h", "127.0.0.1", "-p", str(port),
             "-w", "workspace.yaml"],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float = 120.0) -> dict:
        """Wait until the code location is LOADED; return its workspace entry."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                entry = location_entry(self.client)
            except (OSError, GraphQLError) as err:  # not listening yet
                last = str(err)
            else:
                if entry and entry["loadStatus"] == "LOADED":
                    if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation":
                        raise RuntimeError(f"the code location failed to load: {entry['locationOrLoadError']}")
                    return entry
                last = f"location entry {entry and entry['loadStatus']}"
            time.sleep(0.5)
        raise TimeoutError(f"dagster-webserver not ready after {timeout_s:.0f}s ({last}):\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.proc.pid, signal.SIGKILL)  # stragglers of the group (code server, run workers)
        self.proc.wait(timeout=timeout_s)
        self._log.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------------------- browser


def chromium_path() -> str | None:
    """The Chromium binary (/usr/bin/chromium, or ``chromium`` on PATH), or None."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def _chromium(args: list[str], profile: Path, timeout_s: float) -> subprocess.CompletedProcess:
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError(CHROMIUM_MISSING.format(path=CHROMIUM))
    if profile.exists():
        shutil.rmtree(profile)
    profile.mkdir(parents=True)
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-quic", "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
               "--virtual-time-budget=15000", *args]
    return subprocess.run(command, capture_output=True, timeout=timeout_s, start_new_session=True)


def dump_dom(url: str, profile: Path, window: tuple[int, int] = (1600, 1000), timeout_s: float = 90.0) -> str:
    """The DOM after the page's scripts ran (``--dump-dom``)."""
    done = _chromium([f"--window-size={window[0]},{window[1]}", "--dump-dom", url], profile, timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom exited {done.returncode}: {done.stderr[-3000:]!r}")
    return done.stdout.decode(errors="replace")


def screenshot(url: str, path: Path, profile: Path, window: tuple[int, int] = (1600, 1000),
               timeout_s: float = 90.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    done = _chromium([f"--window-size={window[0]},{window[1]}", f"--screenshot={path}", url], profile, timeout_s)
    if done.returncode != 0 or not path.is_file():
        raise RuntimeError(f"chromium --screenshot exited {done.returncode}: {done.stderr[-3000:]!r}")
    return path


def artifacts_dir() -> Path:
    """Where screenshots go: $POLYMATH_UI_ARTIFACTS, else <repo>/var/ui-artifacts (git-ignored)."""
    return Path(os.environ.get("POLYMATH_UI_ARTIFACTS") or REPO / "var" / "ui-artifacts")


def group_url(base_url: str, group: str) -> str:
    """The lineage graph of one asset group of this code location."""
    return f"{base_url}/locations/{LOCATION}/asset-groups/{urllib.parse.quote(group)}"


def lineage_url(base_url: str, groups: list[str]) -> str:
    """The global asset lineage with every group expanded (``?expanded=`` holds group ids,
    ``repo@location:group`` or ``global@global:group`` depending on a UI feature flag;
    both are given, unknown ids are ignored)."""
    ids = [f"{prefix}:{g}" for g in groups for prefix in (f"{REPOSITORY}@{LOCATION}", "global@global")]
    return f"{base_url}/asset-groups?expanded=" + ",".join(urllib.parse.quote(i, safe="") for i in ids)
