"""Stand-in for ``clarifai.utils.logging``: the ``logger`` model code logs to."""

from __future__ import annotations

import logging

logger = logging.getLogger("modelrt.model.clarifai")
