"""A cnnstat graph module run with activation checkpointing per block, as a PyTorch user writes it
(``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)`` around each block): the oracle
for the memory model's ``checkpoint`` option (tests/test_memory_oracle.py)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class CheckpointedGraph(nn.Module):
    """Runs ``gm`` (a cnnstat GraphModule) node by node; the nodes ``first..last`` of each
    segment run inside one non-reentrant checkpoint. Tensors are freed after their last reader,
    as GraphModule does."""

    def __init__(self, gm: nn.Module, segments: Sequence[tuple[str, int, int]]):
        super().__init__()
        self.gm = gm
        self.order = gm._order
        self.segments = {first: last for _, first, last in segments}
        self.last_use: dict[str, int] = {}
        for i, node in enumerate(self.order):
            for src in node.inputs:
                self.last_use[src] = i
        self.keep = set(gm.graph.outputs)

    def _free(self, env: dict, upto: int) -> None:
        for name in [n for n in env if n not in self.keep and self.last_use.get(n, -1) <= upto]:
            del env[name]

    def forward(self, *inputs: torch.Tensor):
        gm = self.gm
        env = dict(zip(gm._inputs, inputs))
        i = 0
        while i < len(self.order):
            last = self.segments.get(i)
            if last is None:
                node = self.order[i]
                env[node.name] = gm.node_modules[node.name](*(env[s] for s in node.inputs))
                self._free(env, i)
                i += 1
                continue
            nodes = self.order[i:last + 1]
            inside = {n.name for n in nodes}
            ins = list(dict.fromkeys(s for n in nodes for s in n.inputs if s not in inside))
            outs = [n.name for n in nodes if n.name in self.keep or any(
                n.name in m.inputs for m in self.order[last + 1:])]
            env.update(zip(outs, checkpoint(self._segment(nodes, ins, outs),
                                            *(env[s] for s in ins), use_reentrant=False)))
            self._free(env, last)
            i = last + 1
        outs = [env[o] for o in gm.graph.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _segment(self, nodes, ins, outs):
        gm = self.gm
        last_inside: dict[str, int] = {}
        for j, node in enumerate(nodes):
            for src in node.inputs:
                last_inside[src] = j

        def run(*values):
            local = dict(zip(ins, values))
            del values
            for j, node in enumerate(nodes):
                local[node.name] = gm.node_modules[node.name](*(local[s] for s in node.inputs))
                for src in set(node.inputs):
                    if last_inside.get(src) == j and src not in outs:
                        local.pop(src, None)
            return tuple(local[o] for o in outs)
        return run
