"""Symmetric InfoNCE with a learnable temperature (CLIP's loss): open_clip's own `ClipLoss`, with
its `get_ground_truth` / `get_logits` / `forward` split and a dict of named terms ending in
`_loss` (the training loop sums every such key, so a regulariser is one more key).

Under torchrun (world size > 1) the features of every rank are gathered with gradient
(open_clip's `gather_with_grad=True`), so the loss is the one of the whole global batch; with
`local_loss` each rank scores only its own rows against all gathered features (open_clip's
`--local-loss`: less memory, the same loss and gradient once DDP averages over ranks).

In one process the logits are computed as the engine always computed them (one matmul and its
transpose), so single-process results stay bit-identical to earlier versions."""
from __future__ import annotations

import torch

from .compat import import_open_clip

_ClipLoss = import_open_clip().loss.ClipLoss


class ClipLoss(_ClipLoss):
    def __init__(self, rank: int = 0, world_size: int = 1, local_loss: bool = False):
        super().__init__(local_loss=local_loss, gather_with_grad=True, cache_labels=True, rank=rank, world_size=world_size)

    def get_logits(self, image_features, text_features, logit_scale, logit_bias=None):
        if self.world_size > 1:
            return super().get_logits(image_features, text_features, logit_scale, logit_bias)
        logits_per_image = logit_scale * image_features @ text_features.T
        return logits_per_image, logits_per_image.T

    def forward(self, image_features, text_features, logit_scale, logit_bias=None, output_dict=True) -> dict[str, torch.Tensor]:
        # Features may come out of bf16/fp16 autocast: the logits and the softmax run in fp32.
        return super().forward(image_features.float(), text_features.float(), logit_scale.float(),
                               logit_bias=logit_bias, output_dict=True)


def total_loss(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(v for k, v in terms.items() if k.endswith("_loss"))
