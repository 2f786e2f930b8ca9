from applier.entry import main

main()
