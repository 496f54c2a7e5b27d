"""What a process under torchrun is told by its environment, and how a global batch is shared out
(the processes themselves are started in tests/integration/test_torchrun.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mmstudio.training.distributed import Distributed, DistributedError, from_environment

_TORCHRUN = {
    "RANK": "1",
    "LOCAL_RANK": "1",
    "WORLD_SIZE": "2",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29500",
}


def test_not_under_torchrun_is_not_distributed():
    assert from_environment({}) is None
    assert from_environment({"LOCAL_RANK": "0"}) is None  # some launchers set only this


def test_torchrun_environment_gives_the_rank_and_world():
    dist = from_environment(_TORCHRUN)
    assert (dist.rank, dist.local_rank, dist.world_size) == (1, 1, 2)
    assert not dist.main and not dist.local_main
    one = from_environment({**_TORCHRUN, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"})
    assert one.main and one.world_size == 1  # torchrun --nproc-per-node 1 is distributed too


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"MASTER_PORT": ""}, "MASTER_PORT is not: start distributed training with torchrun"),
        ({"RANK": "two"}, "are not numbers"),
        ({"RANK": "2"}, "RANK 2 does not fit WORLD_SIZE 2"),
    ],
)
def test_a_broken_environment_is_refused_in_a_sentence(change, said):
    with pytest.raises(DistributedError, match=said):
        from_environment({**_TORCHRUN, **change})


def test_the_processes_share_a_global_batch_exactly():
    batch = np.array([2, 3, 5, 7, 11, 13, 17])
    shares = [Distributed(rank, rank, 3).shard(batch) for rank in range(3)]
    assert [s.tolist() for s in shares] == [[2, 7, 17], [3, 11], [5, 13]]
    assert sorted(np.concatenate(shares).tolist()) == batch.tolist()  # each item once, none lost


def test_a_last_batch_smaller_than_the_world_is_padded_for_training_only():
    order = np.array([9, 4, 6, 1, 0])
    last = np.array([0])
    padded = [Distributed(rank, rank, 3).shard(last, pad_from=order).tolist() for rank in range(3)]
    assert padded == [[0], [4], [9]]  # filled from the start of the epoch's order, as DistributedSampler does
    assert [Distributed(rank, rank, 3).shard(last).tolist() for rank in range(3)] == [[0], [], []]


def test_a_process_beyond_the_gpus_is_told_how_many_there_are(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DistributedError, match="this machine has 1 GPU: start at most 1 process per node"):
        Distributed(3, 1, 4).place(torch.device("cuda"))
    assert Distributed(3, 1, 4).place(torch.device("cpu")) == torch.device("cpu")
