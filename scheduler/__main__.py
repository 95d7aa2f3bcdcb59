"""`python -m scheduler` runs the CLI."""
from scheduler.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
