"""Gesund-style zip bundles: a flat package written against that platform's API, served as is.

``loader.formats`` builds the format's table entry from these: detection and config read the code
without running it (detect.py); the bundle is mounted with its own platform modules
(platform.py) and served by a generated ModelRunner (adapter.py).
"""

from loader.gesund.adapter import GROUND_TRUTH, GesundRunner, gesund_load
from loader.gesund.detect import SETTINGS_FILE, gesund_config, gesund_layout
from loader.gesund.platform import PLATFORM_REQUIREMENTS, GesundPackage

#: Requirements files such bundles ship, in the order they are looked for.
REQUIREMENT_FILES = ("reqs.txt", "requirements.txt")

__all__ = [
    "GROUND_TRUTH",
    "PLATFORM_REQUIREMENTS",
    "REQUIREMENT_FILES",
    "SETTINGS_FILE",
    "GesundPackage",
    "GesundRunner",
    "gesund_config",
    "gesund_layout",
    "gesund_load",
]
