"""Loading a corpus file into ``documents`` and ``passages``: all or nothing.

One streaming pass validates every record and COPYs the good ones into temporary
staging tables inside a single transaction. Checks that need the whole file or the
database (duplicate ids with different content, unknown documents, ids already stored
with other text or other metadata) run as set-based SQL on the staging tables. Any bad record rolls the
transaction back, so a bad file loads nothing; a good file is merged with
``INSERT ... ON CONFLICT DO NOTHING``, so loading it twice adds nothing the second time.

Who may write what: ``documents`` and ``passages`` rows are inserted only here (and
never updated or deleted but for the embedding column). Any number of ingests may
read and stage their files at once; from the checks against the database to the commit
one ingest at a time holds ``INGEST_LOCK_ID``. Without it two files giving one passage
id different text would both pass the checks and the second be dropped in silence by
ON CONFLICT; with it the second is checked after the first committed and is rejected,
as it would be had it come later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from polymath_assets.corpus.records import BadRecord, CorpusFileError, Document, read_raw, validate

MAX_REPORTED_ERRORS = 50
INGEST_LOCK_ID = 0x636F72707573  # "corpus": one ingest between its checks and its commit


@dataclass
class IngestResult:
    path: str
    documents_in_file: int = 0
    passages_in_file: int = 0
    documents_added: int = 0
    passages_added: int = 0
    errors: list[BadRecord] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.path}: documents {self.documents_in_file} in file, {self.documents_added} added, "
            f"{self.documents_in_file - self.documents_added} already present; "
            f"passages {self.passages_in_file} in file, {self.passages_added} added, "
            f"{self.passages_in_file - self.passages_added} already present"
        )

    def error_report(self) -> str:
        shown = sorted(self.errors, key=lambda e: e.line or 0)[:MAX_REPORTED_ERRORS]
        lines = [f"{self.path}: rejected, {len(self.errors)} problem(s); nothing was loaded."]
        lines += [f"  {e}" for e in shown]
        if len(self.errors) > len(shown):
            lines.append(f"  ... and {len(self.errors) - len(shown)} more")
        return "\n".join(lines)


class CorpusRejected(ValueError):
    def __init__(self, result: IngestResult):
        super().__init__(result.error_report())
        self.result = result


# One staging table for both kinds: a single streaming pass and a single COPY.
_STAGING = """
CREATE TEMP TABLE stage_records (
    line int, kind text, doc_id uuid, title text, year int, doi text,
    passage_id uuid, section text, passage_text text, text_md5 text
) ON COMMIT DROP;
CREATE TEMP VIEW stage_documents AS SELECT line, doc_id, title, year, doi FROM stage_records WHERE kind = 'd';
CREATE TEMP VIEW stage_passages AS
    SELECT line, passage_id, doc_id, section, passage_text, text_md5 FROM stage_records WHERE kind = 'p';
"""


def ingest_file(conn: psycopg.Connection, path: Path, progress: Callable[[int], None] | None = None) -> IngestResult:
    """Load one corpus file; raise CorpusRejected (and load nothing) if any record is bad."""
    result = IngestResult(path=str(path))
    with conn.transaction():
        conn.execute(_STAGING)
        result.errors += _stage(conn, path, progress)
        if not result.errors:
            # until this transaction ends; READ COMMITTED: the checks then see every earlier ingest
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK_ID,))
            result.errors += _set_level_problems(conn)
        if result.errors:
            raise CorpusRejected(result)  # leaving the block by an exception rolls back
        result.documents_in_file = conn.execute("SELECT count(DISTINCT doc_id) FROM stage_documents").fetchone()[0]
        result.passages_in_file = conn.execute("SELECT count(DISTINCT passage_id) FROM stage_passages").fetchone()[0]
        result.documents_added = conn.execute(
            """INSERT INTO documents (doc_id, title, year, doi)
               SELECT DISTINCT ON (doc_id) doc_id, title, year, doi FROM stage_documents ORDER BY doc_id, line
               ON CONFLICT (doc_id) DO NOTHING"""
        ).rowcount
        result.passages_added = conn.execute(
            """INSERT INTO passages (passage_id, doc_id, section, passage_text)
               SELECT DISTINCT ON (passage_id) passage_id, doc_id, section, passage_text
               FROM stage_passages ORDER BY passage_id, line
               ON CONFLICT (passage_id) DO NOTHING"""
        ).rowcount
        # ON COMMIT DROP does not fire when the caller's transaction goes on (a savepoint here)
        conn.execute("DROP TABLE stage_records CASCADE")
    return result


def _stage(conn: psycopg.Connection, path: Path, progress: Callable[[int], None] | None) -> list[BadRecord]:
    errors = []
    columns = "line, kind, doc_id, title, year, doi, passage_id, section, passage_text, text_md5"
    with conn.cursor() as cur, cur.copy(f"COPY stage_records ({columns}) FROM STDIN") as copy:
        try:
            for line, raw in read_raw(path):
                record = validate(line, raw)
                if isinstance(record, BadRecord):
                    errors.append(record)
                elif isinstance(record, Document):
                    copy.write_row((line, "d", record.doc_id, record.title, record.year, record.doi,
                                    None, None, None, None))
                else:
                    digest = hashlib.md5(record.passage_text.encode()).hexdigest()
                    copy.write_row((line, "p", record.doc_id, None, None, None,
                                    record.passage_id, record.section, record.passage_text, digest))
                if progress:
                    progress(1)
        except CorpusFileError as err:  # what was staged is rolled back with the rest
            errors.append(err.record)
    return errors


def _set_level_problems(conn: psycopg.Connection) -> list[BadRecord]:
    """Problems that need the whole file or the database, found with set-based SQL."""
    checks = [
        (  # the same passage id twice in the file with different text
            """SELECT b.line, 'passage_id ' || b.passage_id || ' also on line ' || a.line || ' with different text'
               FROM stage_passages a JOIN stage_passages b
                 ON a.passage_id = b.passage_id AND a.line < b.line
                AND (a.text_md5 <> b.text_md5 OR a.doc_id <> b.doc_id)"""
        ),
        (  # the same document id twice with different metadata
            """SELECT b.line, 'doc_id ' || b.doc_id || ' also on line ' || a.line || ' with different fields'
               FROM stage_documents a JOIN stage_documents b
                 ON a.doc_id = b.doc_id AND a.line < b.line
                AND (a.title, a.year, a.doi) IS DISTINCT FROM (b.title, b.year, b.doi)"""
        ),
        (  # a document already stored with another title, year or doi: never keep stale metadata
            """SELECT s.line, 'doc_id ' || s.doc_id || ' is already stored with a different '
                      || concat_ws(', ', CASE WHEN d.title IS DISTINCT FROM s.title THEN 'title' END,
                                         CASE WHEN d.year IS DISTINCT FROM s.year THEN 'year' END,
                                         CASE WHEN d.doi IS DISTINCT FROM s.doi THEN 'doi' END)
                      || ' (give the new version a new doc_id)'
               FROM stage_documents s JOIN documents d ON d.doc_id = s.doc_id
               WHERE (d.title, d.year, d.doi) IS DISTINCT FROM (s.title, s.year, s.doi)"""
        ),
        (  # a passage whose document is neither in the file nor in the database
            """SELECT p.line, 'unknown document ' || p.doc_id || ' (not in this file nor in the database)'
               FROM stage_passages p
               WHERE NOT EXISTS (SELECT 1 FROM stage_documents d WHERE d.doc_id = p.doc_id)
                 AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.doc_id = p.doc_id)"""
        ),
        (  # a passage already stored with other text or under another document
            """SELECT s.line, 'passage_id ' || s.passage_id || ' is already stored with different '
                      || CASE WHEN p.doc_id <> s.doc_id THEN 'doc_id' ELSE 'text' END
               FROM stage_passages s JOIN passages p ON p.passage_id = s.passage_id
               WHERE md5(p.passage_text) <> s.text_md5 OR p.doc_id <> s.doc_id"""
        ),
    ]
    problems = []
    for query in checks:
        problems += [BadRecord(line, reason) for line, reason in conn.execute(query).fetchall()]
    return problems
