"""`python -m tracker.cli`: the `tracker` command (for `python -X importtime -m tracker.cli`)."""

from tracker.cli import main

if __name__ == "__main__":  # not when a spawned job process loads this module
    main()
