from vitals.cli import main

main()
