"""``python -m firmware_sim --scenario SC.yaml --out DIR``."""

import sys

from .cli import main

sys.exit(main())
