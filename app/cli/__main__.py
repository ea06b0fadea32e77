"""`python -m app.cli …` is `scriba …`."""

import sys

from app.cli import main

sys.exit(main())
