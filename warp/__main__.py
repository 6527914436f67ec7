from warp.cli import main

main()
