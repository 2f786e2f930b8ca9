from binlog_pipeline.cli import main

main()
