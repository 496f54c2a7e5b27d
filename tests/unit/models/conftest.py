"""Fixtures for the model tests: a tiny context, and a seeded generator for every test."""

from __future__ import annotations

import pytest
import torch

from mmstudio.models import ModelContext


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Seeded, and one intra-op thread: these tiny tensors gain nothing from more, and on a busy
    two-core machine OpenMP's waiting threads made a batch-of-2 backward twenty times slower."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_ctx() -> ModelContext:
    """Small enough that every encoder runs forward and backward in well under a second on a CPU;
    32 px is the smallest image size the torchvision backbones accept."""
    return ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7)
