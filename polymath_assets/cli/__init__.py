"""The ``polymath`` command: one module per command group, each only arguments and
printing around the use cases of ``polymath_assets.operations`` and the core packages.

Errors that carry a complete message for the operator (a missing key, an unreachable
server, a refused budget, a schema behind the code) are shown as one line, never a
traceback; SIGINT/SIGTERM stop at the next safe point with exit status 130/143."""

from __future__ import annotations

import sys
import warnings

import click

from polymath_assets.config import ConfigError

# platformdirs warns on every start when XDG_RUNTIME_DIR is unset (containers, CI); Dagster
# notes that its own sensor definitions use a beta argument whenever the asset graph resolves.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition")


def _operator_errors() -> tuple[type[Exception], ...]:
    """Errors that carry a complete message for the operator: shown without a traceback."""
    from polymath_assets.embedding.pipeline import EmbeddingDimensionMismatch
    from polymath_assets.extraction.runner import BudgetExceeded
    from polymath_assets.gemini.client import ProviderError
    from polymath_assets.graph.connection import GraphUnavailable
    from polymath_assets.kb.db import DatabaseUnavailable
    from polymath_assets.kb.migrate import SchemaError

    return (ConfigError, DatabaseUnavailable, SchemaError, GraphUnavailable, ProviderError, BudgetExceeded,
            EmbeddingDimensionMismatch)


def _lost_connections() -> tuple[type[Exception], ...]:
    """A server that went away mid-command (not refused at the start: DatabaseUnavailable)."""
    import psycopg

    from polymath_assets.gemini.client import TRANSPORT_ERRORS

    return (psycopg.OperationalError, psycopg.InterfaceError, *TRANSPORT_ERRORS)


def _lost_connection_message(err: Exception) -> str:
    import psycopg

    detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
        return (f"lost the connection to PostgreSQL ({detail}). Committed work is kept: check the database "
                "(`polymath services status`), then run the same command again to resume")
    return (f"lost the connection to the Gemini provider ({type(err).__name__}: {detail}). Jobs already created "
            "are recorded or found again by name: check the network, then run the same command again to resume")


def _resumable(err: Exception) -> bool:
    from polymath_assets.extraction.runner import BudgetExceeded
    from polymath_assets.gemini.client import ProviderError

    return isinstance(err, (BudgetExceeded, ProviderError))


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        from polymath_assets.interrupts import RESUME_MESSAGE, Interrupted

        try:
            return super().invoke(ctx)
        except Interrupted as err:
            click.echo(RESUME_MESSAGE, err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:  # before the handlers were installed, or a command without them
            click.echo(RESUME_MESSAGE, err=True)
            sys.exit(130)
        except _lost_connections() as err:
            raise click.ClickException(_lost_connection_message(err)) from None
        except _operator_errors() as err:
            hint = " (state is saved; run the same command again to continue)" if _resumable(err) else ""
            raise click.ClickException(f"{err}{hint}") from None
        except RuntimeError as err:  # e.g. an embedded server that would not start: its message says why
            if type(err) is RuntimeError:
                raise click.ClickException(str(err)) from None
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Polymath concept pipeline: typed concepts with evidence, embeddings and a concept graph."""


def _register() -> None:
    from polymath_assets.cli import concepts, corpus, extraction, graph, info, pipeline, schema, services

    for module in (info, services, corpus, extraction, pipeline, graph, schema, concepts):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
