"""Language-id example: a Clarifai-style text classifier backed by a scikit-learn pipeline.

Written against Clarifai's Python API: a ModelClass whose callable methods are marked with
@ModelClass.method and typed. modelrt serves `predict` over Predict: the request's `text` input
becomes the `text` argument, the `top_k` parameter the `top_k` argument, and the returned
Concepts the structured answer [{"id", "name", "value"}, ...].
"""

from pathlib import Path

import joblib
import yaml
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_types import Concept
from clarifai.runners.utils.data_utils import Param

HERE = Path(__file__).resolve().parent


class LanguageId(ModelClass):
    """Which of English, French, German and Spanish a text is written in."""

    def load_model(self):
        # Weights live next to this file, as on the platform; build_weights.py trains them.
        self.pipeline = joblib.load(HERE / "language_id.joblib")
        # The concepts of config.yaml name the pipeline's classes ("fr" -> "French").
        config = yaml.safe_load((HERE.parent / "config.yaml").read_text(encoding="utf-8"))
        self.names = {concept["id"]: concept["name"] for concept in config["concepts"]}

    @ModelClass.method
    def predict(
        self,
        text: str,
        top_k: int = Param(default=4, description="How many languages to list", min_value=1),
    ) -> list[Concept]:
        """The languages, most likely first, each with its probability as the concept's value."""
        probabilities = self.pipeline.predict_proba([text])[0]
        ranked = sorted(
            zip(self.pipeline.classes_, probabilities, strict=True), key=lambda pair: -pair[1]
        )
        return [
            Concept(name=self.names[code], value=round(float(p), 4), id=code)
            for code, p in ranked[: int(top_k)]
        ]
