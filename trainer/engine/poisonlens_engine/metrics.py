"""Retrieval metrics (ARCHITECTURE.md §5, utility): text→image (IR) and image→text (TR)
Recall@K on L2-normalised embeddings. IR: a caption hits when its own image is in the top K.
TR: an image hits when any of its captions is in the top K. Ties go to the lower index."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def recall_at_k(image_emb: torch.Tensor, text_emb: torch.Tensor, caption_image: Sequence[int] | np.ndarray,
                ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    img = torch.nn.functional.normalize(image_emb.float(), dim=-1)
    txt = torch.nn.functional.normalize(text_emb.float(), dim=-1)
    owner = torch.as_tensor(np.asarray(caption_image), dtype=torch.long)
    n_img, n_txt = img.shape[0], txt.shape[0]

    # IR: 0-based rank of each caption's own image among all images.
    sims = txt @ img.T                                   # [T, N]
    own = sims.gather(1, owner[:, None])                 # [T, 1]
    idx = torch.arange(n_img)[None, :]
    ir_rank = (sims > own).sum(1) + ((sims == own) & (idx < owner[:, None])).sum(1)

    # TR: 0-based rank of the best-ranked own caption of each image.
    sims_t = img @ txt.T                                 # [N, T]
    order = torch.sort(sims_t, dim=1, descending=True, stable=True).indices
    hits = owner[order] == torch.arange(n_img)[:, None]  # [N, T] in rank order
    has = hits.any(1)
    tr_rank = torch.where(has, hits.float().argmax(1), torch.full((n_img,), n_txt))

    return {
        "ir": {f"r{k}": round(float((ir_rank < k).float().mean()), 5) for k in ks},
        "tr": {f"r{k}": round(float((tr_rank < k).float().mean()), 5) for k in ks},
        "images": n_img,
        "captions": n_txt,
    }
