"""Symmetric InfoNCE with a learnable temperature (CLIP's loss), open_clip's ClipLoss shape:
`get_ground_truth`, `get_logits`, and a `forward` that returns named terms ending in `_loss`
(the training loop sums every such key, so a regulariser is one more key)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


class ClipLoss(torch.nn.Module):
    def get_ground_truth(self, n: int) -> torch.Tensor:
        return torch.arange(n, dtype=torch.long)

    def get_logits(self, image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor):
        logits_per_image = logit_scale * image_features @ text_features.T
        return logits_per_image, logits_per_image.T

    def forward(self, image_features, text_features, logit_scale) -> dict[str, torch.Tensor]:
        # Features may come out of bf16 autocast: the softmax runs in fp32.
        image_features, text_features = image_features.float(), text_features.float()
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale.float())
        labels = self.get_ground_truth(image_features.shape[0])
        loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
        return {"contrastive_loss": loss}


def total_loss(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(v for k, v in terms.items() if k.endswith("_loss"))
