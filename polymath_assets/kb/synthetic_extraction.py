"""Extraction results at corpus scale, written by set-based SQL, for the query-plan
benchmarks and tests: passages, one done request per passage, one ingested batch job per
shard and ``concepts_per_passage`` concept rows per passage with evidence of the real
shape. Only the shapes and sizes matter here; the text is filler. Ids are md5 of a
label and the ordinal, so a larger fill contains a smaller one."""

from __future__ import annotations

import psycopg

_DOC = "md5(%(label)s || ':doc:' || ({i} / 5))::uuid"
_PASSAGE = "md5(%(label)s || ':passage:' || {i})::uuid"


def fill(conn: psycopg.Connection, *, passages: int, concepts_per_passage: int = 10, version: str = "gemini_batch_v1",
         shard_count: int = 64, label: str = "synthetic", analyze: bool = True,
         skip_shard: int | None = None) -> None:
    """Add ``passages`` passages (ordinals 0..passages-1 of ``label``; ones already there
    are skipped) with their done requests and concept rows. ``skip_shard`` leaves that
    shard out (to grow the others while it stays as it is). Commits."""
    params = dict(label=label, n=int(passages), k=int(concepts_per_passage), version=version,
                  shards=int(shard_count), skip=-1 if skip_shard is None else int(skip_shard))
    conn.execute(f"""
        INSERT INTO documents (doc_id, title, year)
        SELECT DISTINCT {_DOC.format(i='i')}, 'Synthetic paper ' || (i / 5), 2020
        FROM generate_series(0, %(n)s - 1) i ON CONFLICT DO NOTHING""", params)
    conn.execute(f"""
        INSERT INTO passages (passage_id, doc_id, section, passage_text)
        SELECT {_PASSAGE.format(i='i')}, {_DOC.format(i='i')}, 'abstract',
               'Passage ' || i || ': ' || repeat(md5(i::text) || ' ', 28)
        FROM generate_series(0, %(n)s - 1) i
        WHERE (('x' || substr(md5({_PASSAGE.format(i='i')}::text), 1, 7))::bit(28)::int) %% %(shards)s <> %(skip)s
        ON CONFLICT DO NOTHING""", params)
    conn.execute("""
        INSERT INTO batch_jobs (extractor_version, shard, provider, model, job_name, display_name, state,
                                request_count, succeeded_count, result_stats, estimated_cost_usd, actual_cost_usd)
        SELECT %(version)s, s, 'synthetic', 'synthetic', %(label)s || ':job:' || s, 'synthetic shard ' || s,
               'ingested', 0, 0, '{"lines": 0, "outcomes": {}}'::jsonb, 0, 0
        FROM generate_series(0, %(shards)s - 1) s ON CONFLICT (job_name) DO NOTHING""", params)
    conn.execute(f"""
        INSERT INTO passage_requests (extractor_version, passage_id, shard, request_key, job_id, status,
                                      attempts, concept_count)
        SELECT %(version)s, p.passage_id, p.shard_hash %% %(shards)s, md5(p.passage_id::text), j.job_id, 'done', 1,
               %(k)s
        FROM generate_series(0, %(n)s - 1) i
        JOIN passages p ON p.passage_id = {_PASSAGE.format(i='i')}
        JOIN batch_jobs j ON j.job_name = %(label)s || ':job:' || (p.shard_hash %% %(shards)s)
        ON CONFLICT DO NOTHING""", params)
    conn.execute(f"""
        INSERT INTO passage_concepts (passage_id, concept_name, concept_type, aliases, confidence,
                                      extractor_model, extractor_version, evidence)
        SELECT {_PASSAGE.format(i='i')}, 'concept ' || c, 'method', '[]'::jsonb, 0.9, 'synthetic', %(version)s,
               jsonb_build_object(
                   'surface', 'concept ' || c,
                   'support', jsonb_build_array(jsonb_build_object(
                       'quote', md5(i::text), 'start', 10 + 33 * c, 'end', 42 + 33 * c, 'alignment', 'exact')),
                   'context', repeat(md5(i::text) || ' ', 9),
                   'quality', jsonb_build_object('confidence', 0.9, 'alignment', 'exact', 'notes', 'synthetic'))
        FROM generate_series(0, %(n)s - 1) i, generate_series(1, %(k)s) c
        WHERE EXISTS (SELECT 1 FROM passages p WHERE p.passage_id = {_PASSAGE.format(i='i')})
        ON CONFLICT DO NOTHING""", params)
    # The per-shard response counters the parse-failure gate reads.
    conn.execute("""
        UPDATE batch_jobs j SET request_count = r.n, succeeded_count = r.n,
               result_stats = jsonb_build_object('lines', r.n, 'outcomes', jsonb_build_object('ok', r.n))
        FROM (SELECT job_id, count(*) AS n FROM passage_requests WHERE extractor_version = %(version)s
              GROUP BY job_id) r
        WHERE j.job_id = r.job_id AND j.job_name LIKE %(label)s || ':job:%%'""", params)
    conn.commit()
    if analyze:
        for table in ("documents", "passages", "batch_jobs", "passage_requests", "passage_concepts"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
