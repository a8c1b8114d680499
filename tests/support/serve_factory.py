"""`python -m tests.support.serve_factory MODULE:FACTORY PORT [WORKERS]`: a test app
served by `kernel.server.serve`, as `coop serve` serves the suite's apps (one worker
unless WORKERS; server settings from the suite-wide `COOP_` variables; metrics on a
port of the system's choosing unless `COOP_METRICS_PORT` names one)."""

from __future__ import annotations

import os
import sys

from kernel.server import serve
from kernel.settings import CommonSettings

if __name__ == "__main__":
    factory, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    metrics = {} if "COOP_METRICS_PORT" in os.environ else {"metrics_port": 0}
    settings = CommonSettings(port=port, **metrics)
    serve(factory, settings, env_prefix="COOP_", workers=workers, database=False)
