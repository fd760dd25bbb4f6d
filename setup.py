"""Build of the C++ CPU backend of nanogate.gpu (everything else is in pyproject.toml).

The kernels in gpu/kernels/*.cuh are compiled by the host compiler into one
shared library with a plain C ABI; nanogate.gpu.cpu loads it with ctypes, so
the build needs neither Python nor NumPy headers. Flags stay portable: the
wheel must run on any x86-64 (no -march=native); the hot loops are
multiversioned inside the source instead (target_clones: AVX-512, AVX2+FMA,
baseline; see cpu_backend.cpp).

Flags and why:
  -fno-math-errno     sqrt etc. need not set errno, so they stay inline
  -fno-trapping-math  FP ops are assumed not to trap (we never unmask FP
                      exceptions): lets GCC if-convert selects around divisions,
                      without which the kernel loops do not vectorise
  -ffp-contract=off   no implicit a*b+c -> fma: the kernels' compensated
                      arithmetic (double-double exponents, error-free products)
                      relies on each rounding written in the source; explicit
                      fma() calls stay (NVRTC gets --fmad=false for the same)
No -ffast-math: it would break NaN/inf handling and the compensated sums.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_SOURCES = ["gpu/kernels/cpu_backend.cpp"]
KERNEL_HEADERS = [
    "gpu/kernels/common.cuh",
    "gpu/kernels/black.cuh",
    "gpu/kernels/iv.cuh",
    "gpu/kernels/american.cuh",
    "gpu/kernels/realized.cuh",
]


def _compiler_accepts(compiler: list[str], flag: str) -> bool:
    """True when the C++ compiler builds and links a tiny OpenMP program with flag."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cpp")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            res = subprocess.run(
                [*compiler, flag, src, "-o", os.path.join(tmp, "probe")],
                capture_output=True,
                check=False,
            )
        except OSError:
            return False
        return res.returncode == 0


class BuildExt(build_ext):
    """Adds -fopenmp only where the compiler supports it (clang without libomp does not)."""

    def build_extensions(self) -> None:
        # Probe the driver that links C++ (CXX, else c++), as setuptools will.
        cxx = os.environ.get("CXX", "c++").split()
        use_omp = _compiler_accepts(cxx, "-fopenmp")
        for ext in self.extensions:
            if use_omp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "nanogate.gpu._cpu_kernels",
            sources=KERNEL_SOURCES,
            depends=KERNEL_HEADERS,
            language="c++",
            extra_compile_args=["-O3", "-std=c++17", "-fvisibility=hidden", "-fno-math-errno",
                                "-fno-trapping-math", "-ffp-contract=off"],
            extra_link_args=[],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
