"""`polymath concepts show / merge / split / undo / run / resolve / calibrate`: canonical concepts."""

from __future__ import annotations

from pathlib import Path

import click

from polymath_assets.cli.common import config, database


@click.group()
def concepts() -> None:
    """Canonical concepts: inspect, merge, split and undo; resolve surfaces."""


def _concepts_db():
    cfg = config()
    return cfg, database(cfg)

def _name_encoder(cfg):
    from polymath_assets.concepts.names import name_encoder
    from polymath_assets.embedding.encoder import EncoderError

    try:
        return name_encoder(cfg)
    except EncoderError as err:
        raise click.ClickException(str(err)) from None


def _actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "operator"


GRAPH_FOLLOWS = "the graph follows at its next sync (`polymath graph sync`, or the graph asset)"


def _concept_operation(work, writes: bool = True):
    """Run one operator decision in one transaction; a refusal is shown as a plain message.
    A decision holds the resolver's lock from before it looks names up: a resolver run in
    progress finishes first (and may create, or with --full replace, the concepts named)."""
    from polymath_assets.kb.canonical import lock_resolver
    from polymath_assets.kb.concept_ops import ConceptError
    from polymath_assets.kb.db import connect

    cfg, dsn = _concepts_db()
    with connect(dsn) as conn:
        if writes and not lock_resolver(conn, wait=False):
            click.echo("waiting for the resolver run in progress to finish...", err=True)
            lock_resolver(conn)
        try:
            outcome = work(conn, cfg)
        except ConceptError as err:
            conn.rollback()
            raise click.ClickException(str(err)) from None
        conn.commit()
    return outcome


def _shown(text: str) -> str:
    """A surface as the extractor wrote it, or quoted with escapes when it holds characters
    a terminal would act on or hide (line breaks, escape sequences, bidi controls)."""
    return text if text.isprintable() else repr(text)


@concepts.command("show")
@click.argument("name")
@click.option("--type", "type_", default=None, help="Only concepts of this type.")
def concepts_show(name: str, type_: str | None) -> None:
    """The canonical concept(s) NAME designates, with every alias, its stage, and the merge log."""
    from polymath_assets.kb import concept_ops

    def work(conn, cfg):
        ids = concept_ops.find_concepts(conn, name, type_)
        if not ids:
            raise concept_ops.ConceptError(f"no canonical concept is named {name!r}; run `polymath concepts run` "
                                           "(or the canonical_concepts asset) to resolve new surfaces")
        return [concept_ops.show(conn, cid) for cid in ids]

    for view in _concept_operation(work, writes=False):
        merged = f"  (merged into #{view.merged_into})" if view.merged_into else ""
        click.echo(f"#{view.concept_id} {_shown(view.preferred_name)} [{_shown(view.concept_type)}]{merged}: "
                   f"{len(view.aliases)} aliases")
        for a in view.aliases:
            score = f" {a['score']:.3f}" if a["score"] is not None else ""
            click.echo(f"    {_shown(a['surface'])} [{_shown(a['type'])}]  {a['stage']}{score}"
                       f"{'  pinned' if a['pinned'] else ''}")
        for entry in view.log:
            undone = f", undone by {entry['undone_by']}" if entry["undone_by"] else ""
            click.echo(f"    log {entry['merge_id']}: {entry['kind']} #{entry['from_concept']} -> #{entry['to_concept']} "
                       f"({entry['surfaces']} surfaces) by {entry['actor']} at {entry['created_at']}{undone}")


@concepts.command("merge")
@click.argument("source")
@click.argument("target")
@click.option("--source-type", default=None, help="Type of SOURCE when its name has several.")
@click.option("--target-type", default=None, help="Type of TARGET when its name has several.")
@click.option("--force", is_flag=True, help="Merge even types that POLYMATH_CONCEPT_TYPE_PAIRS keeps apart.")
@click.option("--note", default=None, help="Why (kept in the merge log).")
def concepts_merge(source: str, target: str, source_type, target_type, force: bool, note) -> None:
    """Merge the concept SOURCE into TARGET (names, or #ID). Pinned: the resolver never reverts it."""
    from polymath_assets.concepts.rules import TypeRules
    from polymath_assets.kb import concept_ops

    def work(conn, cfg):
        a = concept_ops.resolve_reference(conn, source, source_type)
        b = concept_ops.resolve_reference(conn, target, target_type)
        return a, b, concept_ops.merge(conn, a, b, actor=_actor(), rules=TypeRules.parse(cfg.concept_type_pairs),
                                       force=force, note=note)

    a, b, merge_id = _concept_operation(work)
    click.echo(f"merged #{a} into #{b} (merge {merge_id}; `polymath concepts undo {merge_id}` reverses it)")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("split")
@click.argument("name")
@click.option("--type", "type_", default=None, help="The surface's type when it is written with several.")
@click.option("--note", default=None, help="Why (kept in the merge log).")
def concepts_split(name: str, type_: str | None, note) -> None:
    """Move the surface NAME out of its cluster into a concept of its own (pinned)."""
    from polymath_assets.kb import concept_ops

    def work(conn, cfg):
        return concept_ops.split(conn, name, type_, actor=_actor(), version=cfg.concept_resolver_version, note=note)

    merge_id, new = _concept_operation(work)
    click.echo(f"split {name!r} into its own concept #{new} (merge {merge_id}; `polymath concepts undo {merge_id}` "
               "reverses it)")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("undo")
@click.argument("merge_id", type=int)
def concepts_undo(merge_id: int) -> None:
    """Reverse a merge or split from the merge log (its aliases go back to how they were)."""
    from polymath_assets.kb import concept_ops

    undo_id = _concept_operation(lambda conn, cfg: concept_ops.undo(conn, merge_id, actor=_actor()))
    click.echo(f"undid {merge_id} (logged as {undo_id})")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("run")
@click.option("--full", is_flag=True, help="Forget every unpinned decision and resolve all surfaces again.")
def concepts_run(full: bool) -> None:
    """Resolve the surfaces of passage_concepts that have no canonical concept yet (what the asset does)."""
    from polymath_assets.kb.db import connect
    from polymath_assets.operations.concepts import resolve_concepts

    cfg, dsn = _concepts_db()
    encoder = _name_encoder(cfg)
    with connect(dsn) as conn:
        resolution = resolve_concepts(conn, encoder.encode, cfg, full=full)
    if resolution.summary.full_reason:
        click.echo(f"full re-resolution: {resolution.summary.full_reason}")
    click.echo(resolution.line())
    click.echo(f"embedding threshold {resolution.threshold()}")
    click.echo(GRAPH_FOLLOWS)


@concepts.command("calibrate")
@click.option("--gold", "gold_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL, one {"surface": ..., "type": ..., "group": ...} per surface of the gold set.')
@click.option("--min-precision", default=0.95, show_default=True, type=click.FloatRange(0, 1),
              help="Least precision of the pairs the embedding stage joins.")
@click.option("--dry-run", is_flag=True, help="Measure and show; record nothing.")
def concepts_calibrate(gold_path: Path, min_precision: float, dry_run: bool) -> None:
    """Measure the embedding stage across thresholds for the configured embedding model on
    a gold set, and record the chosen threshold for that model (the resolver uses it)."""
    from polymath_assets.concepts.calibrate import calibrate_gold_file
    from polymath_assets.concepts.resolver import ResolverSettings
    from polymath_assets.concepts.surfaces_file import FileRejected
    from polymath_assets.kb.db import connect

    cfg, dsn = _concepts_db()
    encoder = _name_encoder(cfg)
    with connect(dsn) as conn:
        try:
            result = calibrate_gold_file(conn, gold_path, encoder.encode, ResolverSettings.from_config(cfg),
                                         min_precision=min_precision, actor=_actor(), save=not dry_run)
        except FileRejected as rejected:
            raise click.ClickException(str(rejected)) from None
        conn.commit()
    click.echo(f"{result.surfaces} gold surfaces, model {cfg.embedding_model}; without the embedding stage "
               f"B³ P {result.without_embedding.precision:.3f} R {result.without_embedding.recall:.3f}")
    for line in result.table():
        click.echo(line)
    if result.chosen is None:
        raise click.ClickException(f"no threshold reaches precision {min_precision} on this gold set; nothing recorded")
    recorded = ("not recorded (--dry-run)" if dry_run else
                "recorded for this model; its next run re-resolves every unpinned surface with it (a threshold "
                "other than the last run's makes a full run, as a new resolver version does)")
    click.echo(f"threshold {result.chosen.threshold:.3f} for {cfg.embedding_model}: {recorded}")
    if cfg.concept_similarity is not None:
        click.echo(f"note: POLYMATH_CONCEPT_SIMILARITY={cfg.concept_similarity} is set and takes precedence", err=True)


@concepts.command("resolve")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL, one {"name": ..., "type": ...} per line.')
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL written with concept_id and preferred_name added.")
@click.option("--save", is_flag=True, help="Keep the new concepts and aliases (default: the knowledge base is left as it was).")
def concepts_resolve(input_path: Path, output_path: Path, save: bool) -> None:
    """Resolve a list of names the way the canonical_concepts asset does, against the
    existing concepts. A bad line rejects the whole file (with line numbers)."""
    from polymath_assets.concepts.pipeline import resolve_names
    from polymath_assets.concepts.resolver import ResolverSettings
    from polymath_assets.concepts.surfaces_file import FileRejected, json_line, read_surfaces
    from polymath_assets.kb.db import connect

    try:
        surfaces = read_surfaces(input_path)
    except FileRejected as rejected:
        raise click.ClickException(str(rejected)) from None
    cfg, dsn = _concepts_db()
    encoder = _name_encoder(cfg)
    with connect(dsn) as conn:
        found = resolve_names(conn, surfaces, encoder.encode, ResolverSettings.from_config(cfg))
        conn.commit() if save else conn.rollback()
    with output_path.open("w", encoding="utf-8") as out:
        for surface, (concept_id, preferred) in zip(surfaces, found):
            out.write(json_line({"name": surface.name, "type": surface.type, "concept_id": concept_id,
                                 "preferred_name": preferred}))
    click.echo(f"resolved {len(surfaces)} names into {len({c for c, _ in found})} concepts -> {output_path}"
               + ("" if save else " (nothing saved; --save keeps them)"))


COMMANDS = [concepts]
