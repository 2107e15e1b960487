"""``python -m bench [--quick] [--only ack,bot,open,memory]``: see bench/README.md."""

import os
import sys

os.environ["RASA_TELEMETRY_ENABLED"] = "false"
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from bench.runner import main

sys.exit(main())
