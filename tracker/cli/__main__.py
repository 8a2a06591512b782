"""`python -m tracker.cli`: the `tracker` command (for `python -X importtime -m tracker.cli`)."""

from tracker.cli import main

main()
