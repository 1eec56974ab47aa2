"""Operators' decisions on canonical concepts: show, merge, split, undo.

Every merge and split writes one ``concept_merges`` row holding the alias rows as they
were before, and pins the aliases it decides (``stage = 'manual'``), so neither the
incremental resolver nor a full re-resolution changes them (a full run only rebuilds their
keys by the current rules). An undo restores the saved rows, each with the key today's
rules give its surface — refused when a later decision has moved the same surfaces since
(undo that one first) — and is logged itself. Each operation is one transaction (the
caller commits) and holds the resolver's lock (``canonical.lock_resolver``): it waits for
a resolver run in progress and a run waits for it, so neither acts on what the other is
changing. A caller that looks concepts up by name takes the lock before the look-up (the
CLI does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg

from polymath_assets.concepts.normalize import surface_key
from polymath_assets.concepts.rules import TypeRules
from polymath_assets.kb.canonical import lock_resolver

_ALIAS_COLUMNS = "surface, concept_type, concept_id, norm_key, stage, score, decided_at, resolver_version, pinned"


class ConceptError(RuntimeError):
    """An operator's request that cannot be carried out; the message says why and what to do."""


@dataclass(frozen=True)
class ConceptView:
    concept_id: int
    preferred_name: str
    concept_type: str
    merged_into: int | None
    aliases: list[dict]
    log: list[dict]


def find_concepts(conn: psycopg.Connection, name: str, type_: str | None = None) -> list[int]:
    """Concepts a name designates: an alias with that surface (case-insensitive), else a
    preferred name; ``type_`` narrows to one concept type."""
    ids = [r[0] for r in conn.execute(
        """SELECT DISTINCT concept_id FROM concept_aliases
           WHERE lower(surface) = lower(%(n)s) AND (%(t)s::text IS NULL OR lower(concept_type) = lower(%(t)s))
           ORDER BY 1""", dict(n=name, t=type_))]
    if not ids:
        ids = [r[0] for r in conn.execute(
            """SELECT concept_id FROM concepts WHERE lower(preferred_name) = lower(%(n)s) AND merged_into IS NULL
               AND (%(t)s::text IS NULL OR lower(concept_type) = lower(%(t)s)) ORDER BY 1""", dict(n=name, t=type_))]
    return ids


def one_concept(conn: psycopg.Connection, name: str, type_: str | None = None) -> int:
    ids = find_concepts(conn, name, type_)
    if not ids:
        raise ConceptError(f"no canonical concept is named {name!r}" + (f" with type {type_!r}" if type_ else "")
                           + "; `polymath concepts show NAME` lists what a name resolves to")
    if len(ids) > 1:
        raise ConceptError(f"{name!r} names {len(ids)} concepts ({', '.join(map(str, ids))}); "
                           "add --type TYPE or use the concept id (#ID)")
    return ids[0]


def resolve_reference(conn: psycopg.Connection, ref: str, type_: str | None = None) -> int:
    """``#123`` → concept 123; anything else → the concept that name designates."""
    if ref.startswith("#") and ref[1:].isdigit():
        if conn.execute("SELECT 1 FROM concepts WHERE concept_id = %s", (int(ref[1:]),)).fetchone() is None:
            raise ConceptError(f"no canonical concept has id {ref}")
        return int(ref[1:])
    return one_concept(conn, ref, type_)


def show(conn: psycopg.Connection, concept_id: int) -> ConceptView:
    cid, name, ctype, merged = conn.execute(
        "SELECT concept_id, preferred_name, concept_type, merged_into FROM concepts WHERE concept_id = %s",
        (concept_id,)).fetchone()
    aliases = [dict(surface=s, type=t, stage=st, score=sc, pinned=p, resolver_version=v, decided_at=str(d)[:19])
               for s, t, st, sc, p, v, d in conn.execute(
                   """SELECT surface, concept_type, stage, score, pinned, resolver_version, decided_at
                      FROM concept_aliases WHERE concept_id = %s ORDER BY stage, surface""", (concept_id,))]
    log = [dict(merge_id=m, kind=k, from_concept=f, to_concept=t, surfaces=len(s), actor=a, undone_by=u,
                created_at=str(c)[:19])
           for m, k, f, t, s, a, u, c in conn.execute(
               """SELECT merge_id, kind, from_concept, to_concept, surfaces, actor, undone_by, created_at
                  FROM concept_merges WHERE %s IN (from_concept, to_concept) ORDER BY merge_id""", (concept_id,))]
    return ConceptView(cid, name, ctype, merged, aliases, log)


def _alias_rows(conn: psycopg.Connection, where: str, params: tuple) -> list[dict]:
    rows = conn.execute(f"SELECT {_ALIAS_COLUMNS} FROM concept_aliases WHERE {where} ORDER BY surface, concept_type",
                        params).fetchall()
    names = _ALIAS_COLUMNS.split(", ")
    return [{k: (v.isoformat() if k == "decided_at" else v) for k, v in zip(names, row)} for row in rows]


def _log(conn: psycopg.Connection, kind: str, from_concept: int | None, to_concept: int | None,
         surfaces: list[list[str]], before: dict, actor: str, note: str | None, undoes: int | None = None) -> int:
    return conn.execute(
        """INSERT INTO concept_merges (kind, from_concept, to_concept, surfaces, before_state, actor, note, undoes)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING merge_id""",
        (kind, from_concept, to_concept, json.dumps(surfaces), json.dumps(before), actor, note, undoes)).fetchone()[0]


def merge(conn: psycopg.Connection, source: int, target: int, *, actor: str, rules: TypeRules,
          force: bool = False, note: str | None = None) -> int:
    """Move every alias of ``source`` to ``target`` (pinned, stage manual); ``source``
    points at ``target`` from then on. Returns the merge id."""
    lock_resolver(conn)
    if source == target:
        raise ConceptError(f"concept {source} is already that concept; nothing to merge")
    types = dict(conn.execute("SELECT concept_id, concept_type FROM concepts WHERE concept_id = ANY(%s)",
                              ([source, target],)).fetchall())
    if not force and not rules.compatible(types[source], types[target]):
        raise ConceptError(f"concept {source} is a {types[source]!r} and concept {target} a {types[target]!r}: "
                           f"these types may not share a concept (POLYMATH_CONCEPT_TYPE_PAIRS); --force to merge anyway")
    before_aliases = _alias_rows(conn, "concept_id = ANY(%s)", ([source, target],))
    moved = [[a["surface"], a["concept_type"]] for a in before_aliases if a["concept_id"] == source]
    before = {"aliases": before_aliases, "concepts": [{"concept_id": source, "merged_into": None}]}
    merge_id = _log(conn, "merge", source, target, moved, before, actor, note)
    conn.execute("""UPDATE concept_aliases SET concept_id = %s, stage = CASE WHEN concept_id = %s THEN 'manual' ELSE stage END,
                    pinned = true, decided_at = now() WHERE concept_id = ANY(%s)""", (target, source, [source, target]))
    conn.execute("UPDATE concepts SET merged_into = %s, updated_at = now() WHERE concept_id = %s", (target, source))
    return merge_id


def split(conn: psycopg.Connection, surface: str, type_: str | None, *, actor: str, version: str,
          note: str | None = None) -> tuple[int, int]:
    """Move one surface out of its cluster into a concept of its own (pinned). Returns
    (merge id, the new concept id)."""
    lock_resolver(conn)
    rows = _alias_rows(conn, "surface = %s AND (%s::text IS NULL OR lower(concept_type) = lower(%s))",
                       (surface, type_, type_))
    if not rows:
        raise ConceptError(f"no alias {surface!r}" + (f" of type {type_!r}" if type_ else "")
                           + "; split takes a surface exactly as written (see `polymath concepts show`)")
    if len(rows) > 1:
        raise ConceptError(f"{surface!r} is written with {len(rows)} types "
                           f"({', '.join(r['concept_type'] for r in rows)}); add --type TYPE")
    alias = rows[0]
    old = alias["concept_id"]
    if conn.execute("SELECT count(*) FROM concept_aliases WHERE concept_id = %s", (old,)).fetchone()[0] == 1:
        raise ConceptError(f"{surface!r} is the only alias of concept {old}; it is already on its own")
    new = conn.execute("INSERT INTO concepts (preferred_name, concept_type) VALUES (%s, %s) RETURNING concept_id",
                       (surface, alias["concept_type"])).fetchone()[0]
    before = {"aliases": rows, "concepts": [{"concept_id": new, "merged_into": None, "created": True}]}
    merge_id = _log(conn, "split", old, new, [[surface, alias["concept_type"]]], before, actor, note)
    conn.execute("""UPDATE concept_aliases SET concept_id = %s, stage = 'manual', pinned = true, score = NULL,
                    decided_at = now(), resolver_version = %s, norm_key = %s
                    WHERE surface = %s AND concept_type = %s""",
                 (new, version, surface_key(surface), surface, alias["concept_type"]))
    return merge_id, new


def undo(conn: psycopg.Connection, merge_id: int, *, actor: str) -> int:
    """Put back the aliases a merge or split changed, as they were before it. Returns the undo's id."""
    lock_resolver(conn)
    row = conn.execute("SELECT kind, from_concept, to_concept, surfaces, before_state, undone_by FROM concept_merges "
                       "WHERE merge_id = %s FOR UPDATE", (merge_id,)).fetchone()
    if row is None:
        raise ConceptError(f"no merge log entry {merge_id}; `polymath concepts show NAME` lists a concept's entries")
    kind, source, target, surfaces, before, undone_by = row
    if kind == "undo":
        raise ConceptError(f"entry {merge_id} is an undo; to reverse it, merge or split again")
    if undone_by is not None:
        raise ConceptError(f"entry {merge_id} was already undone by entry {undone_by}")
    moved = {(s, t) for s, t in surfaces}
    current = {(s, t): cid for s, t, cid in conn.execute(
        "SELECT surface, concept_type, concept_id FROM concept_aliases WHERE (surface, concept_type) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([s for s, _ in moved], [t for _, t in moved]))}
    changed = sorted(k for k in moved if current.get(k) != target)
    if changed:
        later = [r[0] for r in conn.execute(
            "SELECT merge_id FROM concept_merges WHERE merge_id > %s AND undone_by IS NULL AND kind <> 'undo' "
            "AND (%s IN (from_concept, to_concept) OR %s IN (from_concept, to_concept)) ORDER BY merge_id DESC",
            (merge_id, source, target))]
        raise ConceptError(f"entry {merge_id} cannot be undone: {len(changed)} of its surfaces ({changed[0][0]!r}, ...) "
                           f"have moved since" + (f"; undo entries {', '.join(map(str, later))} first" if later else ""))
    undo_id = _log(conn, "undo", target, source, surfaces, {"aliases": _alias_rows(
        conn, "concept_id = ANY(%s)", ([source, target],))}, actor, None, undoes=merge_id)
    # The key is built by today's rules, not restored: the saved one may predate a resolver
    # version, and a full run rekeys pinned aliases the same way (canonical.rekey_pinned).
    restored = [{**alias, "norm_key": surface_key(alias["surface"])} for alias in before["aliases"]]
    # One statement for every saved alias: its triggers (the graph's change logs) run once.
    conn.execute(
        """UPDATE concept_aliases a SET concept_id = b.concept_id, norm_key = b.norm_key, stage = b.stage,
               score = b.score, decided_at = b.decided_at, resolver_version = b.resolver_version, pinned = b.pinned
           FROM jsonb_to_recordset(%s::jsonb) AS b (surface text, concept_type text, concept_id bigint,
               norm_key text, stage text, score real, decided_at timestamptz, resolver_version text, pinned boolean)
           WHERE a.surface = b.surface AND a.concept_type = b.concept_type""", (json.dumps(restored),))
    if kind == "merge":
        conn.execute("UPDATE concepts SET merged_into = NULL, updated_at = now() WHERE concept_id = %s", (source,))
    else:  # the concept the split created has no alias left; names found there lead back
        conn.execute("UPDATE concepts SET merged_into = %s, updated_at = now() WHERE concept_id = %s", (source, target))
    conn.execute("UPDATE concept_merges SET undone_by = %s WHERE merge_id = %s", (undo_id, merge_id))
    return undo_id
