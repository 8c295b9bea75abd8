"""The picture on a model card: the one a bundle ships, or a generated SVG placeholder.

A bundle names it with ``card_image:`` in modelrt.yaml, or ships ``card.png`` (``.jpg``,
``.jpeg``, ``.webp``, ``.svg``; ``model_card.*`` too, as Gesund-style zips name it) at its root.
Without one, the card shows the model's initials on a colour drawn from its name.

>>> placeholder_svg("iris").startswith(b"<svg")
True
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from xml.sax.saxutils import escape

from loader.config import CARD_IMAGE_SUFFIXES
from runtime.engine.models import ModelRecord

logger = logging.getLogger(__name__)
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
_STEMS = ("card", "model_card")
_QUOTE = {'"': "&quot;"}
#: A card picture bigger than this is not served (the placeholder is).
MAX_IMAGE_BYTES = 8 << 20


def _inside(root: Path, path: Path) -> Path | None:
    """``path`` when it is a regular file under ``root`` once links are resolved."""
    try:
        resolved = path.resolve(strict=True)
        if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
            return None
        if resolved.stat().st_size > MAX_IMAGE_BYTES:
            logger.warning("card image %s is over %d bytes: not served", path, MAX_IMAGE_BYTES)
            return None
    except OSError:
        return None
    return resolved


def find_card_image(record: ModelRecord) -> Path | None:
    """The card picture ``record``'s bundle ships, if it ships one."""
    prepared = record.prepared
    if prepared is None:
        return None
    root = prepared.root
    named = prepared.config.card_image
    if named is not None:
        return _inside(root, root / named)
    try:
        files = sorted(p for p in root.iterdir() if p.is_file())
    except OSError:
        return None
    for stem in _STEMS:
        for path in files:
            if path.stem.lower() == stem and path.suffix.lower() in CARD_IMAGE_SUFFIXES:
                return _inside(root, path)
    return None


def media_type(path: Path) -> str:
    """The Content-Type of a card picture, from its suffix."""
    return MEDIA_TYPES[path.suffix.lower()]


def _initials(name: str) -> str:
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def placeholder_svg(name: str) -> bytes:
    """A 256x256 SVG: the initials of ``name`` on a colour its hash picks."""
    hue = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % 360
    text = escape(_initials(name))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" '
        f'viewBox="0 0 256 256" role="img" aria-label="{escape(name, _QUOTE)}">'
        f'<rect width="256" height="256" rx="24" fill="hsl({hue}, 55%, 45%)"/>'
        '<text x="128" y="128" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui, sans-serif" font-size="96" font-weight="600">'
        f"{text}</text></svg>"
    )
    return svg.encode()
