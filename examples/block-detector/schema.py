from pydantic import BaseModel, Field
from register import outschema


@outschema.register_module("block-detector", default=False)
class Response(BaseModel):
    boxes: list[list[int]] = Field(description="[x_min, y_min, x_max, y_max] of each block")
    labels: list[str] = Field(description="The colour of each block: red, green or blue")
    scores: list[float] = Field(description="The confidence in each block, 0 to 1")
