"""The torchrun side of training: who this process is, and the few collectives cross-validation needs.

Without torchrun's environment (plain `python train_model.py`) this is a world of one and every call is local.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def start(cls) -> World:
        """Join the process group torchrun set up (NCCL on GPU, gloo on CPU), or stay a single process."""
        size = int(os.environ.get("WORLD_SIZE", 1))
        if size <= 1:
            return cls()
        world = cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", 0)),
                    int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
        # Ranks wait for each other's folds at the final gather, which can take hours on a big set; a rank that
        # fails does not leave the others hanging, because torchrun stops the whole job when any rank exits.
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=48))
        return world

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def gather(self, obj: object) -> list[object]:
        """Every rank's `obj` on rank 0 (in rank order); [] elsewhere."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0)
        return out or []

    def stop(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()
