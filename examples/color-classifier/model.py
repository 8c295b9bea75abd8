"""Color-classifier example: an ONNX image classifier run with onnxruntime, served over Predict.

The input is an RGB image as a uint8 tensor [H, W, 3]; model.py scales and transposes it into
the [1, 3, H, W] float32 tensor the ONNX graph expects (see build_weights.py for the graph).
"""

import numpy as np
import onnxruntime as ort
import pydantic

from registry import InvalidInputError, ModelRunner, Request, outschema, register

# The order of the ONNX model's outputs (fixed by build_weights.py); modelrt.yaml lists the same
# labels so that GetModel can show them.
LABELS = ("red", "green", "blue")


@outschema("color-classifier")
class ColorPrediction(pydantic.BaseModel):
    """The most likely colour, its probability, and the probability of every colour."""

    label: str
    score: float = pydantic.Field(ge=0.0, le=1.0)
    scores: dict[str, float]


@register("color-classifier")
class ColorClassifier(ModelRunner):
    """Predict: ``image`` (uint8 [H, W, 3]) in, a ColorPrediction and ``probabilities`` out."""

    def load_model(self) -> None:
        weights = self.context.path("model.onnx")
        if not weights.exists():
            raise FileNotFoundError(f"{weights} is missing: run `python examples/build.py`")
        options = ort.SessionOptions()
        # A tiny model: one thread is plenty, and it keeps many instances from fighting for cores.
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(weights), sess_options=options, providers=self._providers()
        )
        self.context.logger.info(
            "color-classifier on %s using %s", self.context.device, self.session.get_providers()
        )

    def _providers(self) -> list[str | tuple[str, dict[str, str]]]:
        # The runtime picks the device; the model only follows it ("cpu" or "cuda:N").
        device = self.context.device
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            index = device.partition(":")[2] or "0"
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def predict(self, request: Request) -> dict[str, object]:
        image = np.asarray(request["image"])
        # The runtime already checked dtype and shape against modelrt.yaml; checking again keeps
        # the model safe when it is called directly (tests, notebooks).
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise InvalidInputError(
                f"input 'image' must be a uint8 [H, W, 3] tensor, got {image.dtype} {image.shape}"
            )
        # [H, W, 3] uint8 in 0..255 -> [1, 3, H, W] float32 in 0..1
        batch = (image.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
        (probabilities,) = self.session.run(["probabilities"], {"image": batch})
        scores = {label: float(p) for label, p in zip(LABELS, probabilities[0], strict=True)}
        best = max(scores, key=scores.__getitem__)
        return {
            # str / float / dict values form the structured output, checked against the schema
            "label": best,
            "score": scores[best],
            "scores": scores,
            # a numpy array becomes a named tensor output next to it
            "probabilities": probabilities[0].astype(np.float32),
        }
