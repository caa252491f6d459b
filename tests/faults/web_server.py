"""The web tier in a process of its own (threaded, as a production server runs it), so a test can read its memory.

    python -m tests.faults.web_server PORT      (settings from the environment)
"""
from __future__ import annotations

import sys

from werkzeug.serving import make_server

from web import create_app

if __name__ == "__main__":
    server = make_server("127.0.0.1", int(sys.argv[1]), create_app(), threaded=True)
    print("ready", flush=True)
    server.serve_forever()
