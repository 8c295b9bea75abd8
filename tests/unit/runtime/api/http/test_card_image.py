"""The card picture's placeholder: the model's initials on a colour its name picks."""

from __future__ import annotations

from runtime.api.http.card_image import placeholder_svg


def test_placeholder_shows_the_initials_and_is_stable_per_name() -> None:
    assert b">TL</text>" in placeholder_svg("tiny-llm")
    assert b">SE</text>" in placeholder_svg("sentiment")
    assert placeholder_svg("iris") == placeholder_svg("iris")
    assert placeholder_svg("iris") != placeholder_svg("iris2")
