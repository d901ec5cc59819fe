"""Importing the entry points connects to nothing and loads no client library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_main_loads_no_cloud_client_or_http_library() -> None:
    code = "import sys, json, main; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    heavy = [
        m
        for m in loaded
        if m.startswith(("google.cloud.firestore", "google.cloud.pubsub", "grpc", "httpx", "holidays"))
    ]
    assert heavy == [], f"loaded at import time: {heavy}"
