import sys

from app.cli import main

# Guarded: a worker process (`app.dashboard_today`) imports this module again without running it.
if __name__ == "__main__":
    sys.exit(main())
