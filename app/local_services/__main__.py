"""`python -m app.local_services`: the command line lives in command_line.py.

Kept this small so the package can re-export `main` without importing this module, which
runpy would otherwise warn about when it runs it as `__main__`.
"""

from __future__ import annotations

import sys

from app.local_services.command_line import main

if __name__ == "__main__":
    sys.exit(main())
