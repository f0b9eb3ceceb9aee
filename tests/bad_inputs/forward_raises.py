# a torch module whose forward raises: one error line naming the exception and the module
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), Broken())

    def forward(self, x):
        return self.body(x)


class Broken(nn.Module):
    def forward(self, x):
        raise ValueError("the head is not configured")
