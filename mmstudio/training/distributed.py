"""Training under ``torchrun``: DistributedDataParallel on the engines users already trust.

``torchrun --nproc-per-node N -m mmstudio train SPEC --data PATH`` starts N processes with ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (multi-node: torchrun's
rendezvous sets them the same way). :func:`from_environment` reads them; :meth:`Distributed.start`
joins the process group: NCCL on CUDA (each process on the GPU of its local rank), Gloo on a CPU.

How the job is shared out (the runner and the trainer do it; this module gives them the pieces):

- **One global batch, split.** Every process builds the same epoch order from ``(seed, epoch)`` (as
  a single process does), takes the same global batch of ``batch_size`` items and keeps every
  ``world_size``-th of them from its rank (:meth:`Distributed.shard`): a distributed sampler with
  per-epoch shuffling, whose global batch is exactly the one a single process would train on. Each
  process scales its loss by its share of the batch, so DDP's gradient average is the gradient of
  the global batch's mean loss; the contrastive loss gathers every process's embeddings first (with
  their gradients), so the negatives are the whole global batch, as CLIP trains.
- **Metrics reduced.** The logged training losses are summed over processes (each sends its share),
  and an evaluation scores a share of each batch on every process and gathers the outputs, so every
  process computes the same metrics and takes the same early-stopping decision.
- **Rank 0 writes.** Only rank 0 opens the store, records the run, writes checkpoints and runs the
  final evaluation; the others train and stop. A failing process exits non-zero and torchrun stops
  the others (it sends SIGTERM, which rank 0 records as the run's end).
- **Caches built once.** The local rank 0 of each machine loads the dataset and computes the frozen
  encoders' features first (:meth:`Distributed.leader_first`); the others then read its caches.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import torch

#: Environment variables torchrun sets for every process it starts.
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
#: How long a collective waits for the other processes before it fails (torchrun's own failure
#: handling normally stops every process long before).
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


class DistributedError(RuntimeError):
    """The process group cannot be started as the environment asks."""


class Terminated(KeyboardInterrupt):
    """torchrun stopped this process (SIGTERM): another process of the job failed, or the job was
    cancelled. A ``KeyboardInterrupt``, so the run is recorded ``interrupted`` and can be resumed."""

    message = (
        "torchrun stopped this process: another process of the run failed (its output says why) or the "
        "job was cancelled; resume the run to continue from its last checkpoint"
    )


#: What rank 0 records when a collective fails because another process died (it may, or torchrun's
#: SIGTERM may, reach rank 0 first).
PEER_LOST = (
    "another process of the run stopped (its output says why: a crash, out of memory, a lost machine), "
    "so this one could not go on; resume the run to continue from its last checkpoint"
)
_PEER_SIGNS = ("connection reset by peer", "connection closed by peer", "gloo", "nccl")


def lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another process went away."""
    import torch.distributed as dist

    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(sign in text for sign in _PEER_SIGNS)


def stop_on_sigterm() -> None:
    """Turn torchrun's SIGTERM into :class:`Terminated` in the main thread, so that rank 0 records the
    run's end before it exits (torchrun sends SIGTERM to every process when one fails)."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(Terminated.message)

    signal.signal(signal.SIGTERM, handler)


@dataclass
class Distributed:
    """This process's place in a ``torchrun`` job."""

    rank: int
    local_rank: int
    world_size: int
    backend: str | None = None
    _started: bool = field(default=False, repr=False)

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes to the store and saves checkpoints."""
        return self.rank == 0

    @property
    def local_main(self) -> bool:
        return self.local_rank == 0

    def describe(self) -> str:
        return f"{self.world_size} processes ({self.backend or 'not started'})"

    # --- the process group ----------------------------------------------------------------------

    def place(self, device: torch.device) -> torch.device:
        """The device this process trains on: a CUDA request becomes the GPU of the local rank."""
        if device.type != "cuda":
            return device
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise DistributedError(
                f"process {self.rank} has local rank {self.local_rank} but this machine has "
                f"{count} GPU{'s' if count != 1 else ''}: start at most {count} "
                f"process{'es' if count != 1 else ''} per node (--nproc-per-node), or train on the CPU "
                "with --device cpu"
            )
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def start(self, device: torch.device) -> None:
        """Join the process group: NCCL for CUDA, Gloo otherwise (idempotent)."""
        import torch.distributed as dist

        if self._started:
            return
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            options: dict[str, Any] = {"backend": self.backend, "timeout": COLLECTIVE_TIMEOUT}
            if device.type == "cuda":
                options["device_id"] = device
            dist.init_process_group(**options)
        self._started = True

    def stop(self) -> None:
        """Leave the process group (once)."""
        import torch.distributed as dist

        if self._started and dist.is_initialized():
            dist.destroy_process_group()
        self._started = False

    # --- collectives ------------------------------------------------------------------------------

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every process."""
        import torch.distributed as dist

        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (picklable), in rank order, on every process."""
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``tensor`` over the processes (in place, and returned)."""
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def same_everywhere(self, value: Any, what: str) -> None:
        """Raise when ``value`` differs between processes (a check of what each computed alone)."""
        digest = hashlib.sha256(pickle.dumps(value)).hexdigest()
        digests = self.gather(digest)
        if len(set(digests)) != 1:
            differ = [rank for rank, d in enumerate(digests) if d != digests[0]]
            raise DistributedError(
                f"{what} differs between processes (ranks {differ} against rank 0): every process must "
                "see the same files and settings; check that the dataset path is the same on every machine"
            )

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm's running statistics) on every process, before evaluating."""
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)

    def gather_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every process's rows of ``tensor``, concatenated in rank order, with the gradient flowing back
        to each process's own rows (the contrastive loss's negatives). Processes may hold different row
        counts (the last batch of an epoch): rows are padded for the exchange and the padding dropped."""
        import torch.distributed as dist
        import torch.distributed.nn.functional as dist_nn

        count = torch.tensor([tensor.shape[0]], device=tensor.device)
        counts = [torch.zeros_like(count) for _ in range(self.world_size)]
        dist.all_gather(counts, count)
        sizes = [int(c.item()) for c in counts]
        longest = max(sizes)
        if tensor.shape[0] < longest:
            pad = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
            tensor = torch.cat([tensor, pad])
        if tensor.requires_grad:
            parts = list(dist_nn.all_gather(tensor.contiguous()))
        else:
            parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
            dist.all_gather(parts, tensor.contiguous())
        return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])

    # --- sharing out a batch ------------------------------------------------------------------------

    def shard(self, indices: np.ndarray, *, pad_from: np.ndarray | None = None) -> np.ndarray:
        """This process's share of one global batch ``indices``: every ``world_size``-th item from its
        rank. When the batch has fewer items than processes (an epoch's last batch), ``pad_from``'s first
        items fill it up (as ``DistributedSampler`` pads), so that every process has an item to train
        on; without ``pad_from`` (evaluation) a process may get none."""
        if pad_from is not None and 0 < len(indices) < self.world_size:
            missing = self.world_size - len(indices)
            indices = np.sort(np.concatenate([indices, np.resize(pad_from, missing)]))
        return indices[self.rank :: self.world_size]

    # --- ordering -------------------------------------------------------------------------------

    @contextmanager
    def leader_first(self) -> Iterator[None]:
        """The body runs on each machine's local rank 0 first, then on the others (which then find the
        caches it wrote): for loading the dataset and computing features."""
        if not self.local_main:
            self.barrier()
        try:
            yield
        finally:
            if self.local_main:
                self.barrier()


def from_environment(environ: Mapping[str, str] | None = None) -> Distributed | None:
    """This process's :class:`Distributed` when ``torchrun`` started it (``None`` otherwise). A world of
    one process is distributed too (``torchrun --nproc-per-node 1``): it measures DDP's overhead."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    missing = [name for name in TORCHRUN_VARIABLES if not env.get(name)]
    if missing:
        raise DistributedError(
            f"RANK is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: start "
            "distributed training with torchrun (torchrun --nproc-per-node N -m mmstudio train ...)"
        )
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env["LOCAL_RANK"])
    except ValueError as exc:
        raise DistributedError(f"torchrun's RANK / LOCAL_RANK / WORLD_SIZE are not numbers: {exc}") from None
    if not 0 <= rank < world or local < 0:
        raise DistributedError(f"RANK {rank} does not fit WORLD_SIZE {world}")
    return Distributed(rank=rank, local_rank=local, world_size=world)
