"""Test-wide settings: every server a test starts (in-process or `modelrt serve`) takes a free HTTP
port, never the default 8000 that a developer's own server may hold."""

from __future__ import annotations

import os

os.environ.setdefault("MODELRT_HTTP_PORT", "auto")
