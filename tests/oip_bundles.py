"""Bundles both Open Inference Protocol test files serve (gRPC and REST): an echo that doubles a
tensor ``x`` and returns its parameters, and a model with an output schema."""

ECHO = """
    import numpy as np
    from registry import ModelRunner, register

    @register("{name}")
    class Echo(ModelRunner):
        def predict(self, request):
            out = {{name: value for name, value in request.inputs.items()}}
            if "x" in out and isinstance(out["x"], np.ndarray):
                out["doubled"] = out["x"] * 2
            if request.parameters:
                out["params"] = dict(request.parameters)
            return out
"""
SCORED = """
    import pydantic
    from registry import ModelRunner, register, outschema

    @outschema("scored")
    class Scored(pydantic.BaseModel):
        label: str
        score: float

    @register("scored")
    class Model(ModelRunner):
        def predict(self, request):
            return {"label": request["text"].upper(), "score": 0.5}
"""
