from binlog_pipeline.applier.entry import main

main()
