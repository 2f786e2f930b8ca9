"""Console entry point: the stop flag first, then the (heavier) command."""

from binlog_pipeline.core import shutdown


def main() -> None:
    shutdown.install()
    from binlog_pipeline.producer.cli import main as cli_main

    cli_main()
