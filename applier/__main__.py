from applier.cli import main

main()
