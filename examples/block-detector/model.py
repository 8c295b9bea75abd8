import torch
from core.engine.base_models import PytorchModel
from logger import AppLogger
from register.register import modelservice

from .backbone import CLASSES, BlockNet
from .loss import PixelLoss
from .postprocess import Postprocess
from .preprocess import Preprocess

logger = AppLogger(__name__).get_logger()

__all__ = ["BlockDetector"]


@modelservice.register_module(name="block-detector", default=False)
class BlockDetector(PytorchModel):
    """Finds red, green and blue rectangles ("blocks") on a dark image.

    The platform builds it as BlockDetector(model_path), calls load(), then per request
    postprocess(predict(preprocess(image))). PytorchModel.predict runs self.model on what
    preprocess returns, on the device the runtime chose, without autograd.
    """

    def __init__(self, model_path) -> None:
        super().__init__(model_path)
        self.preprocess = Preprocess()
        self.postprocess = Postprocess()
        self.loss_function = PixelLoss()

    def load(self):
        # The weights file is a state dict: build the network, then fill it in.
        net = BlockNet()
        net.load_state_dict(torch.load(self.model_path, map_location="cpu", weights_only=True))
        self.model = net.to(self.device).eval()
        logger.info("block-detector: classes %s on %s", ", ".join(CLASSES), self.device)
        return self.model

    def loss(self, y_pred, gts):
        return self.loss_function(y_pred, gts)
