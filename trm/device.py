"""Device and precision choice: one switch each, flowing from the CLI (nothing hard-coded)."""

from __future__ import annotations

import contextlib
import os
import shutil
from functools import cache

import torch

from trm.budget import AUTO_COMPILE_MINUTES
from trm.errors import SettingError, TRMError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    if name not in DEVICES and not name.startswith("cuda:"):
        raise TRMError(f"unknown device {name!r}: choose auto, cpu, cuda or mps")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError("device", f"{name} asked for, but torch sees no CUDA GPU")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SettingError("device", "mps asked for, but MPS is not available")
    return torch.device(name)


@cache
def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matrix products run faster than fp32 on this CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# Inference batches. On a CPU the cost per example is lowest when the recursion's state
# (rows x length x width floats) stays near the cores' caches: with 2 threads on an AVX2 CPU,
# fp32, the Sudoku model (81 x 128) costs 1.3x per row at 512 rows what it costs at 16-32,
# the maze model (100 x 64) 1.5x at 512 against 16-32, and a 512-wide model 1.2x at 32
# against 8-16: the same 2^18 state elements each time. A GPU wants wide batches.
CPU_STATE_ELEMENTS = 1 << 18
GPU_ROWS = 256


def inference_rows(device: torch.device, length: int, width: int) -> int:
    """Examples per inference batch for a model whose state is ``length`` x ``width``."""
    if device.type != "cpu":
        return GPU_ROWS
    return max(1, CPU_STATE_ELEMENTS // (length * width))


def resolve_precision(name: str, device: torch.device) -> str:
    """auto -> bf16 where the hardware does bf16 fast (recent GPUs, AVX512-BF16 CPUs), else fp32."""
    if name not in PRECISIONS:
        raise TRMError(f"unknown precision {name!r}: choose auto, fp32 or bf16")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def resolve_compile(
    compile: bool | None, device: torch.device, max_minutes: float | None
) -> tuple[bool, str]:
    """``compile`` None is auto: on CUDA (with Triton), and on a CPU with a C++ compiler for a
    run given ``max_minutes`` of 10 or more; off otherwise. Returns (on, why)."""
    if compile is not None:
        return compile, "on" if compile else "off"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if has_triton():
            return True, "on (auto: CUDA)"
        return False, "off (auto: Triton is not installed)"
    if device.type != "cpu":
        return False, f"off (auto: not on {device.type})"
    if max_minutes is None or max_minutes < AUTO_COMPILE_MINUTES:
        return (
            False,
            f"off (auto: on a CPU only for --max-minutes {AUTO_COMPILE_MINUTES:g} or more)",
        )
    if not cpp_compiler():
        return False, "off (auto: no C++ compiler found for torch.compile)"
    return True, (
        f"on (auto: a CPU run of {AUTO_COMPILE_MINUTES:g} minutes or more; --no-compile to skip)"
    )


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU code would be built with, if there is one."""
    names = [os.environ.get("CXX", ""), "g++", "clang++", "c++"]
    return next((found for name in names if name and (found := shutil.which(name))), None)


def autocast(device: torch.device, precision: str):
    """bf16 autocast for matrix products (weights and the loss stay fp32), or nothing."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
