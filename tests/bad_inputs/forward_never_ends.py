# a torch module whose forward loops forever (on meta tensors as on real ones)
import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        while True:
            x = x * 1.0
