"""SystemExit(0) while the model is built: used to end cnnstat with status 0 and no output."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        raise SystemExit(0)
