from reclaim.cli.app import main

main()
