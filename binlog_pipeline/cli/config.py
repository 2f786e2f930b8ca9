"""``binlog-pipeline config``: the reference of every key, and a check of a configuration."""

from __future__ import annotations

import typer

from binlog_pipeline.core.cli_common import ConfigOption, SetOption, build_settings

app = typer.Typer(
    help="Configuration: the reference of every key, and a check of a config.", no_args_is_help=True
)


@app.command("reference")
def config_reference() -> None:
    """Print the configuration reference (every key, env variable, default, meaning) as Markdown."""
    from binlog_pipeline.core.config_docs import reference

    typer.echo(reference(), nl=False)


@app.command("check")
def config_check(config: ConfigOption = None, sets: SetOption = None) -> None:
    """Load the configuration (file, BINLOG_PIPELINE_* env, --set) and print the effective values,
    secrets masked; exit 2 with the key, its origin and what is expected when invalid."""
    settings = build_settings(config, sets)
    for key in type(settings).model_fields:
        typer.echo(f"{key} = {getattr(settings, key)}")  # str() of a URL masks its password
