"""Console entry point: the stop flag first, then the (heavier) command."""

from binlog_pipeline import shutdown


def main() -> None:
    shutdown.install()
    from producer.cli import main as cli_main

    cli_main()
