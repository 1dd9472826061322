"""``evstore bench`` (being written)."""

import click


@click.command("bench")
def bench_command() -> None:
    """Benchmark against raw sqlite3."""
    raise click.ClickException("not yet implemented")
