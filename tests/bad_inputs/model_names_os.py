"""A file that exposes os and subprocess: file.py:os.system must not run a command."""
import os  # noqa: F401
import subprocess  # noqa: F401

import torch.nn as nn


class NotAModule:
    def __init__(self):
        raise RuntimeError("must not be called")


def not_a_factory():
    return 42


class Net(nn.Module):
    def forward(self, x):
        return x
