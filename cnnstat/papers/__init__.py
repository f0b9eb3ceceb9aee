"""Published tables of the classic CNN papers, reproduced: each printed figure beside cnnstat's.

``tables(name)`` returns the :class:`~cnnstat.papers.model.PaperTable` list of one paper (its
rows, cells and notes), for ``cnnstat paper NAME`` and for reports. The published figures live in
data files next to this module (``cnnstat/papers/<paper>.yaml``), each with its citation; every
computed figure comes from :func:`cnnstat.analyze` on a zoo definition. Nothing here imports torch.

    >>> from cnnstat import papers
    >>> [t.key for t in papers.tables("vgg")]
    ['vgg-table1', 'vgg-table2', 'vgg16-layers']
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

from ..errors import UsageError
from . import render  # noqa: F401  (papers.render.markdown, csv_text, json_text, blocks)
from .model import Cell, Column, PaperTable, Published, Row


@dataclass(frozen=True)
class Paper:
    name: str          # what users type: cnnstat paper NAME
    module: str        # the module under cnnstat.papers that lays out its tables
    data: str          # its data file (cnnstat/papers/<data>.yaml)
    summary: str
    zoo_file: str      # the zoo file of its models: a zoo name also finds the paper (vgg16 → vgg)


PAPERS: dict[str, Paper] = {p.name: p for p in (
    Paper("lenet5", "lenet", "lenet", "LeNet-5: per-layer trainable parameters and connections",
          "lenet.yaml"),
    Paper("alexnet", "alexnet", "alexnet", "AlexNet: neurons per layer and total parameters",
          "alexnet.yaml"),
    Paper("vgg", "vgg", "vgg", "VGG: Table 1 (configurations A-E), Table 2 (parameters), "
                               "VGG-16 layer by layer", "vgg.yaml"),
    Paper("googlenet", "googlenet", "googlenet", "GoogLeNet: Table 1, every column",
          "googlenet.yaml"),
    Paper("resnet", "resnet", "resnet", "ResNet: Table 1 (architectures, FLOPs), paper and "
                                        "torchvision layouts", "resnet.yaml"),
    Paper("mobilenet", "mobilenet", "mobilenet", "MobileNet V1: Tables 6 and 7 (width and "
                                                 "resolution multipliers)", "mobilenet_v1.yaml"),
    Paper("raw_waveform", "raw_waveform", "raw_waveform",
          "Very deep CNNs for raw waveforms (Dai et al. 2017): Table 1, M3 ... M34-res",
          "raw_waveform.yaml"),
)}


def names() -> list[str]:
    return list(PAPERS)


def get(name: str) -> Paper:
    """A paper by its name, or by the zoo name of one of its models (``resnet50`` → resnet)."""
    paper = PAPERS.get(name.lower().strip())
    if paper is None:
        from .. import zoo
        entry = zoo.lookup(name.strip())
        if entry is not None:
            paper = next((p for p in PAPERS.values() if p.zoo_file == entry.path.name), None)
    if paper is None:
        from ..suggest import did_you_mean
        raise UsageError(f"no paper table for '{name}'{did_you_mean(name, names())}; choose from "
                         f"{', '.join(names())}")
    return paper


def builder(name: str) -> Callable[[], list[PaperTable]]:
    return import_module(f".{get(name).module}", __name__).tables


def tables(name: str) -> list[PaperTable]:
    """The tables of one paper (``vgg``, ``googlenet``, ``resnet``, ``lenet5``, ``alexnet``,
    ``mobilenet``, ``raw_waveform``), computed from the zoo models."""
    return builder(name)()


def citation(name: str) -> str:
    from .common import data
    return str(data(get(name).data)["paper"])


__all__ = ["PAPERS", "Paper", "names", "get", "tables", "citation", "PaperTable", "Row", "Cell",
           "Column", "Published"]
