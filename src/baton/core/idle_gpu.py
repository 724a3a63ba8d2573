"""Is a GPU deployment's GPU doing enough to keep? Utilisation and memory say.

A GPU busy 1% of the time, holding a sliver of its memory, is a finding in itself: the
model can move to CPU, or share the GPU with others (time-slicing, or a MIG slice on the
GPUs that have them). The GPU's memory comes from the table below, by price-table key.
"""

from __future__ import annotations

GIB = 1024**3
GPU_MEMORY_GIB = {
    "nvidia-t4": 16,
    "nvidia-l4": 24,
    "nvidia-a10g": 24,
    "nvidia-l40s": 48,
    "nvidia-v100": 16,
    "nvidia-p100": 16,
    "nvidia-k80": 12,
    "nvidia-a100-40gb": 40,
    "nvidia-a100-80gb": 80,
    "nvidia-h100": 80,
}
MIG = ("nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100")
MAX_UTILIZATION = 0.1  # mean busy share under which a GPU is idle enough to give up
MAX_MEMORY_SHARE = 0.5  # peak memory under this share of the GPU leaves room to share it


def idle_gpu(
    utilization_mean: float | None,
    memory_peak_bytes: float | None,
    hardware: str,
    max_utilization: float = MAX_UTILIZATION,
    max_memory_share: float = MAX_MEMORY_SHARE,
) -> str | None:
    """Why the GPU can be given up or shared, or None when it is used (or not measured)."""
    if utilization_mean is None or utilization_mean >= max_utilization:
        return None
    total = GPU_MEMORY_GIB.get(hardware)
    if memory_peak_bytes is not None and total is not None:
        if memory_peak_bytes >= max_memory_share * total * GIB:
            return None
        memory = f"{memory_peak_bytes / GIB:.2g} of its {total} GiB at peak"
    elif memory_peak_bytes is not None:
        memory = f"{memory_peak_bytes / GIB:.2g} GiB at peak"
    else:
        memory = "its memory not measured"
    share = "time-slicing or MIG" if hardware in MIG else "time-slicing; MIG needs an A100 or H100"
    return (
        f"GPU busy {utilization_mean:.0%} on average, {memory}: move to CPU, or share the "
        f"GPU ({share})"
    )
