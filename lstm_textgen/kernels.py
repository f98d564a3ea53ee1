"""The compiled kernels (kernels.c): built with the machine's C compiler at first use, kept in a cache folder,
loaded with ctypes. Two users: generation's sampler (:func:`pick`) and the gates of training's LSTM layers on a
CPU (lstm_textgen/cells.py). Where the library cannot be built (no compiler), both use PyTorch's operations
instead: the same words for a seed, a request about a quarter slower; the same training up to rounding, an epoch
about a tenth slower on a CPU without AVX-512 (bench/results/speed.md, "sixth session", "seventh session").

Why C: a step's choice through PyTorch is some fifteen passes over [rows, vocabulary] and as many operator
calls; on a CPU without AVX-512 that took about as long as the int8 products of the LSTM's five layers and
decoder. The C version makes three or four passes a row that stay in the cache, and it also works out what each
word shows (its probability and the top alternatives at temperature 1).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from .sampling import REJECTION_ROUNDS

SOURCE = Path(__file__).with_name("kernels.c")
MAX_ALTERNATIVES = 32  # kernels.c's MAX_K
CANDIDATES = REJECTION_ROUNDS  # draws a row before the sorted nucleus
BLOCK = 64  # kernels.c's BLOCK
# value-safe optimisations only: no -ffast-math, which would assume away the -inf of masked tokens
FLAGS = ["-O3", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math", "-fPIC", "-shared"]

_lock = threading.Lock()
_loaded: list[ctypes.CDLL | None] = []  # filled once: the library, or None where it cannot be built


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), (sysconfig.get_config_var("CC") or "").split(" ")[0], "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def arch_flags() -> list[str]:
    """The instruction set to compile for: the one ATen's kernels run (``torch.backends.cpu``), so that a CPU held
    to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, as bench/speed.py's runs for CPUs without AVX-512) gets AVX2 code."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ["-mcpu=native"]
    return {"DEFAULT": [], "AVX2": ["-march=x86-64-v3"]}.get(torch.backends.cpu.get_cpu_capability(), ["-march=native"])


# /proc/cpuinfo's entries that name a CPU and its instruction sets (x86: vendor_id ... flags; ARM: Features, CPU ...)
CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags", "Features", "CPU implementer", "CPU part")


def cpu_info() -> dict[str, str]:
    """This CPU's :data:`CPU_FIELDS` from /proc/cpuinfo, the first processor's (all of a machine's are alike);
    empty where there is no /proc/cpuinfo. The one reader of that file: the benches record the same entries."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        return {}
    seen: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip()
        if name in CPU_FIELDS and name not in seen:
            seen[name] = value.strip()
    return seen


def cpu_identity() -> str:
    """This CPU's model and instruction-set flags, for the cache key of a library built with -march=native: such a
    library can hold instructions another CPU lacks (AMX, AVX-512), and a cache folder can outlive its machine (a
    home folder shared between machines, a container image built on one and run on another)."""
    info = cpu_info()
    return repr(sorted(info.items())) if info else f"{platform.processor()} on {platform.node()}"  # no /proc


def amd_cpu() -> bool:
    """Whether this is an AMD CPU: speed choices follow the vendor, since MKL's float32 products ran at a third
    to a half of an Intel Xeon's rate on an AMD EPYC, and oneDNN's did not (bench/results/speed.md, "ninth
    session", "eleventh session"). Windows has no /proc/cpuinfo, and names the vendor in platform.processor()."""
    return "AuthenticAMD" in (cpu_info().get("vendor_id") or platform.processor())


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lstm_textgen"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"lstm_textgen-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _build() -> tuple[ctypes.CDLL | None, str]:
    """(the library, "") or (None, why not)."""
    cc = _compiler()
    if cc is None:
        return None, "no C compiler found (set CC, or install gcc or clang)"
    source = SOURCE.read_bytes()
    errors = []
    for arch in [arch_flags()] + ([[]] if arch_flags() else []):  # an -march the compiler lacks: the baseline
        flags = FLAGS + arch
        machine = (platform.machine(), sys.platform, cpu_identity() if "native" in " ".join(arch) else "")
        key = hashlib.sha256(source + repr((cc, flags, machine)).encode()).hexdigest()[:16]
        target = _cache_dir() / f"kernels-{key}.so"
        if not target.exists():
            partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}")
            try:
                run = subprocess.run([cc, *flags, "-o", str(partial), str(SOURCE)], capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                errors.append(f"{cc} {' '.join(arch)}: {e}")
                continue
            if run.returncode != 0:
                errors.append(f"{cc} {' '.join(arch)}: {run.stderr.decode(errors='replace').strip()[-500:]}")
                partial.unlink(missing_ok=True)
                continue
            os.replace(partial, target)  # whole or absent, whatever else builds it at the same time
        try:
            lib = ctypes.CDLL(str(target))  # a CDLL call releases the GIL: other requests run meanwhile
        except OSError as e:
            errors.append(f"loading {target}: {e}")
            continue
        p, i64, f32, ci = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
        lib.lt_pick.argtypes = [p, p, i64, i64, ci, f32, f32, p, ci, ci, p, p, p, p, p, p]
        lib.lt_pick.restype = None
        lib.lt_lstm_forward.argtypes = [p, p, p, p, p, i64, i64]
        lib.lt_lstm_forward.restype = None
        lib.lt_lstm_backward.argtypes = [p, p, p, p, p, i64, i64]
        lib.lt_lstm_backward.restype = None
        return lib, ""
    return None, "; ".join(errors)


def library() -> ctypes.CDLL | None:
    """The compiled kernels, built at the first call of the process (about half a second; later processes load
    them from the cache), or None, with one warning, where they cannot be built."""
    if not _loaded:
        with _lock:
            if not _loaded:
                lib, why = _build()
                if lib is None:
                    why = f"lstm_textgen: sampling and training's LSTM gates use PyTorch's operations: {why}"
                    warnings.warn(why, RuntimeWarning, stacklevel=2)
                _loaded.append(lib)
    return _loaded[0]


def available() -> bool:
    """Whether the compiled kernels can be used on this machine (builds them on first call)."""
    return library() is not None


def pick(
    logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: float | None,
    top_p: float,
    alternatives: int,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(chosen ids [B], their probabilities [B], the top ``alternatives`` probabilities [B, K] and ids [B, K]) for
    logits [B, V] plus ``mask`` [V]: drawn at ``temperature`` within the nucleus of ``top_p``, or the likeliest
    with temperature None. Probabilities are the model's (temperature 1), as shown with each word."""
    lib = library()
    if lib is None:
        raise RuntimeError("the compiled sampler is not available on this machine")
    if not 0 <= alternatives <= MAX_ALTERNATIVES:
        raise ValueError(f"alternatives must be from 0 to {MAX_ALTERNATIVES}, got {alternatives}")
    logits = logits.detach().to("cpu", torch.float32).contiguous()
    mask = mask.to(torch.float32).contiguous()
    rows, vocab = logits.shape
    if mask.shape != (vocab,):
        raise ValueError(f"mask must have shape ({vocab},), got {tuple(mask.shape)}")
    greedy = temperature is None
    work, blocks = torch.empty(2 * vocab), torch.empty(vocab // BLOCK + 1, dtype=torch.float64)

    def run(logits: torch.Tensor, u: torch.Tensor, candidates: int) -> tuple[torch.Tensor, ...]:
        rows = logits.size(0)
        chosen, prob = torch.empty(rows, dtype=torch.long), torch.empty(rows)
        alt_i, alt_p = torch.empty(rows, alternatives, dtype=torch.long), torch.empty(rows, alternatives)
        lib.lt_pick(
            logits.data_ptr(), mask.data_ptr(), rows, vocab, int(greedy), 1.0 if greedy else 1.0 / temperature,
            top_p, u.data_ptr(), candidates, alternatives, work.data_ptr(), blocks.data_ptr(),
            chosen.data_ptr(), prob.data_ptr(), alt_i.data_ptr(), alt_p.data_ptr(),
        )  # fmt: skip
        return chosen, prob, alt_p, alt_i

    # the random numbers as sampling.sample draws them: CANDIDATES a row, then one for each row left
    u = torch.empty(rows, 1) if greedy else torch.rand(rows, CANDIDATES, generator=gen)
    out = run(logits, u, CANDIDATES)
    left = (out[0] < 0).nonzero().squeeze(1)
    if left.numel():  # a small top_p: those rows from the sorted nucleus
        again = run(logits.index_select(0, left), torch.rand(left.numel(), 1, generator=gen), 0)
        if (again[0] < 0).any():
            raise ValueError("the mask leaves no token to choose in some row")
        for whole, part in zip(out, again):
            whole[left] = part
    return out


__all__ = ["available", "library", "pick"]
