"""Compile the kernels to PTX through the raw NVRTC C API (no GPU or driver needed).

libnvrtc comes from the ``nvidia-cuda-nvrtc-cu12`` wheel (or the system CUDA
toolkit). CI uses this to fail on GPU compile errors without a GPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
# The options CuPy's RawModule gets in cuda.py (plus the include dir). --fmad=false: the
# kernels' compensated arithmetic (double-double exponents, error-free products) must not
# be contracted into FMAs behind its back; the CPU build uses -ffp-contract=off for the same.
CUDA_OPTIONS = ("--std=c++17", "--fmad=false")
DEFAULT_OPTIONS = CUDA_OPTIONS


class NvrtcError(RuntimeError):
    """NVRTC is missing or the compilation failed (the message holds the log)."""


def _candidates() -> list[str]:
    found: list[str] = []
    try:
        import nvidia.cuda_nvrtc as pkg  # type: ignore[import-untyped,import-not-found,unused-ignore]

        for base in list(getattr(pkg, "__path__", [])):
            found += sorted(glob.glob(os.path.join(base, "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root:
            found += sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")))
    name = ctypes.util.find_library("nvrtc")
    if name:
        found.append(name)
    # the builtins helper library is not the compiler itself
    return [f for f in found if "builtins" not in os.path.basename(f)]


def load() -> ctypes.CDLL:
    errors = []
    for cand in _candidates():
        try:
            lib = ctypes.CDLL(cand)
        except OSError as exc:
            errors.append(f"{cand}: {exc}")
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        return lib
    raise NvrtcError("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)" +
                     ("; " + "; ".join(errors) if errors else ""))


def version() -> tuple[int, int]:
    lib = load()
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def compile_to_ptx(source: str, name: str = "kernels.cu", arch: str = "compute_80",
                   options: tuple[str, ...] = DEFAULT_OPTIONS,
                   include_dirs: tuple[Path, ...] = (KERNEL_DIR,)) -> str:
    """Compile CUDA C++ source to PTX; raises NvrtcError with the compiler log on failure."""
    lib = load()
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    if rc != 0:
        raise NvrtcError(f"nvrtcCreateProgram: {lib.nvrtcGetErrorString(rc).decode()}")
    try:
        opts = [*options, f"--gpu-architecture={arch}", *(f"-I{d}" for d in include_dirs)]
        arr = (ctypes.c_char_p * len(opts))(*(o.encode() for o in opts))
        rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
        log_size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(log_size))
        log = ctypes.create_string_buffer(log_size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if rc != 0:
            raise NvrtcError(f"NVRTC failed to compile {name} for {arch}:\n"
                             f"{log.value.decode(errors='replace')}")
        size = ctypes.c_size_t()
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, ptx)
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def compile_kernels(arch: str = "compute_80") -> str:
    """PTX of every kernel in kernels.cu (which includes every header)."""
    return compile_to_ptx((KERNEL_DIR / "kernels.cu").read_text(), arch=arch)
