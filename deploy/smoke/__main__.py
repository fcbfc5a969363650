"""`python -m deploy.smoke`: see deploy/smoke/__init__.py."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a directory (python deploy/smoke): make `deploy` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.smoke.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
