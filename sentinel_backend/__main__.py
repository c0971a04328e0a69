"""``python -m sentinel_backend`` is ``sentinel-backend``."""

import sys

from .cli import main

sys.exit(main())
