from binlog_pipeline.producer.entry import main

main()
