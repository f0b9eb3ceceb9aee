"""sys.exit() from the forward pass."""
import sys

import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        sys.exit(0)
