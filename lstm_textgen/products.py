"""Float32 matrix products for training on a CPU, through oneDNN where it was measured faster than MKL.

PyTorch's own float32 products on a CPU call MKL. On an AMD EPYC (Zen 4) MKL's x @ W^T ran the decoder's
[512, 256] x [256, 4535] at 92 GFLOP/s where oneDNN's kernel ran 181, with AVX-512 kernels, and 101 against 154
with AVX2 kernels only; the LSTM's [160, 256] x [256, 1024] ran 152 against 171 with AVX-512 but 151 against 140
with AVX2 (bench/results/speed.md, "ninth session"). So on an AMD CPU the decoder's products go through oneDNN
(:func:`linear`), the LSTM layers' only where oneDNN runs AVX-512 kernels (:func:`lstm_linear`); the weights'
gradients (x^T g), where MKL was the faster, stay with MKL. The same float32 arithmetic, summed in another order.
Other CPUs keep MKL: on an Intel Xeon (AVX-512, AMX) MKL was the faster at each of these shapes (281 against 252
GFLOP/s for the LSTM's, 284 against 264 for the decoder's), and a training epoch ran 8,811 tok/s with MKL's
products, 8,636 with the decoder's through oneDNN, 8,253 with all of them (speed.md, "eleventh session").
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F


def onednn_isa_cap() -> str:
    """The newest instruction set oneDNN may use, as ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) names it; "ALL"
    when neither is set. oneDNN reads it once, at its first use."""
    return (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()


def onednn_may_use(*isas: str) -> bool:
    """Whether :func:`onednn_isa_cap` leaves oneDNN one of ``isas`` (name prefixes: "AVX512" covers them all)."""
    cap = onednn_isa_cap()
    return cap in ("ALL", "DEFAULT") or cap.startswith(isas)


@functools.cache
def measured_faster() -> bool:
    """Whether this is a CPU of the kind where oneDNN's products were measured faster than MKL's (an AMD CPU) and
    this PyTorch has them."""
    from .kernels import amd_cpu

    return amd_cpu() and onednn()


@functools.cache
def onednn() -> bool:
    """Whether this PyTorch runs float32 products through oneDNN on the CPU (torch.ops.mkldnn._linear_pointwise,
    the kernel PyTorch's own compiler emits): False without oneDNN, or where the operator is missing or fails."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w = torch.ones(2, 3), torch.ones(4, 3)
        return bool(torch.equal(_onednn_linear(x, w, None), F.linear(x, w)))
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def onednn_avx512() -> bool:
    """Whether oneDNN's products run AVX-512 kernels here: a CPU whose ATen kernels are AVX-512 ones, with
    oneDNN not held below them."""
    wide = onednn_may_use("AVX512", "AVX10")
    return measured_faster() and wide and torch.backends.cpu.get_cpu_capability() == "AVX512"


def keeps_shapes(x: torch.Tensor) -> bool:
    """Whether products of ``x`` (as :func:`linear` routes float32, as PyTorch routes bfloat16) go through oneDNN on a
    CPU, which keeps compiled code for every new shape until its two caches hold 1,024 each: about 0.6 MB a shape. A
    process training 8 files in turn grew by 0.5-0.8 GB, against 20 MB with MKL's (bench/results/speed.md, "tenth
    session")."""
    if x.device.type != "cpu":
        return False
    return x.dtype == torch.bfloat16 or _routed(x, x)


def padded_rows(n: int) -> int:
    """``n`` rounded up to a multiple of its highest power of two over 16 (at least 8): at most 1/16 more rows, and
    16 row counts for each power of two instead of all of them (:func:`keeps_shapes`)."""
    step = max(8, 1 << max(n.bit_length() - 5, 0))
    return -(-n // step) * step


# oneDNN's cache of compiled products, and PyTorch's (ideep's) beside it: each read once, at the first product
KERNEL_CACHES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def bound_kernel_caches(shapes: int) -> dict[str, str]:
    """Let oneDNN's two kernel caches (:func:`keeps_shapes`) keep ``shapes`` shapes each instead of 1,024, for a
    long-running process that trains on many files: a server's memory then stays near what MKL's products leave
    (bench/results/speed.md, "tenth session"). Only before the process's first oneDNN product, and never over a
    value already in the environment. Returns the values in force then."""
    for name in KERNEL_CACHES:
        os.environ.setdefault(name, str(shapes))
    return {name: os.environ[name] for name in KERNEL_CACHES}


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [None], "")


def _usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32


def _routed(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`linear` takes oneDNN for these operands (:func:`keeps_shapes` asks the same)."""
    return _usable(x, weight) and measured_faster()


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, out: torch.Tensor | None = None
) -> torch.Tensor:
    """x [N, in] times weight [out, in] transposed, plus bias [out]: F.linear's value, through oneDNN for float32
    on an AMD CPU. ``weight`` may be a transposed view (``m.t()``: x @ m). ``out``: a buffer MKL's path writes
    into (fresh memory costs page faults at every step); oneDNN's returns a new tensor. Use what is returned."""
    if _routed(x, weight):
        return _onednn_linear(x, weight, bias)
    return _mkl_linear(x, weight, bias, out)


def lstm_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`linear` for the LSTM layers' shapes: through oneDNN only where it runs AVX-512 kernels."""
    if _usable(x, weight) and onednn_avx512():
        return _onednn_linear(x, weight, bias)
    return F.linear(x, weight, bias)


def lstm_addmm_(acc: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """acc += x @ weight^T in place (as :func:`lstm_linear` routes it): MKL adds into acc in the product itself."""
    if _usable(x, weight) and onednn_avx512():
        return acc.add_(_onednn_linear(x, weight, None))
    return acc.addmm_(x, weight.t())


def _mkl_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor | None
) -> torch.Tensor:
    if out is None:
        return F.linear(x, weight, bias)
    if bias is None:
        return torch.mm(x, weight.t(), out=out)
    return torch.addmm(bias, x, weight.t(), out=out)


__all__ = [
    "bound_kernel_caches",
    "keeps_shapes",
    "linear",
    "lstm_addmm_",
    "lstm_linear",
    "measured_faster",
    "onednn",
    "onednn_avx512",
    "onednn_isa_cap",
    "onednn_may_use",
    "padded_rows",
]
