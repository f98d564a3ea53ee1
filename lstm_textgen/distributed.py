"""This process's place in a torchrun job, and the few collectives training needs (gloo on CPU, NCCL on CUDA)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Dist:
    """This process's place in a torchrun job (world_size 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun process group if launched by torchrun; pick this rank's GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local_rank, backend), device


def leave(dist_info: Dist, finished: bool) -> None:
    """Leave the process group; after a finished run, together (rank 0 may still be saving)."""
    if dist_info.world_size <= 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(total: float, count: int, device: torch.device) -> tuple[float, int]:
    """(sum, count) over every rank."""
    import torch.distributed as dist

    t = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t[0]), int(t[1])


def gather_digests(indices: list[int], device: torch.device) -> list[dict[str, Any]]:
    """What each rank trained on this epoch (count and a digest of its example ids), for checking the split."""
    import torch.distributed as dist

    digest = int.from_bytes(hashlib.sha256(json.dumps(sorted(indices)).encode()).digest()[:7], "big")
    mine = torch.tensor([len(indices), digest], dtype=torch.int64, device=device)
    everyone = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    return [{"examples": int(t[0]), "digest": f"{int(t[1]):014x}"} for t in everyone]
