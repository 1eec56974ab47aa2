"""`polymath ingest` and `generate-corpus`: the corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from polymath_assets.cli.common import config, database


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(paths: tuple[Path, ...]) -> None:
    """Load documents and passages from JSONL or Parquet corpus files (all or nothing per file)."""
    from polymath_assets.corpus.ingest import CorpusRejected, ingest_file
    from polymath_assets.kb.db import session
    from polymath_assets.progress import progress_bar

    failed = False
    with session(database(config())) as conn:
        for path in paths:
            with progress_bar(desc=f"ingest {path.name}", unit="rec") as bar:
                try:
                    result = ingest_file(conn, path, progress=bar.update)
                except CorpusRejected as rejected:
                    bar.close()
                    click.echo(rejected.result.error_report(), err=True)
                    failed = True
                    continue
            click.echo(result.summary())
    sys.exit(1 if failed else 0)


@click.command("generate-corpus")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passages", default=1000, show_default=True, help="About this many passages.")
@click.option("--seed", default=7, show_default=True)
def generate_corpus(out: Path, passages: int, seed: int) -> None:
    """Write a deterministic synthetic corpus (JSONL) for tests and benchmarks."""
    from polymath_assets.corpus.synthetic import documents_for_passages, generate, write_jsonl

    count = write_jsonl(out, generate(documents_for_passages(passages), seed=seed))
    click.echo(f"wrote {count} records to {out}")


COMMANDS = [ingest, generate_corpus]
