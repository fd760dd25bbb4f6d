"""Per-element status codes shared with the kernels (NG_* in kernels/common.cuh)."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt


class Status(IntEnum):
    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_MAX_PRICE = 2
    INVALID_INPUT = 3
    NOT_CONVERGED = 4


STATUS_NAMES = np.array([s.name.lower() for s in Status])


def status_names(codes: npt.NDArray[np.int32]) -> npt.NDArray[np.str_]:
    """Map status codes to their names (``ok``, ``below_intrinsic``, ...)."""
    return STATUS_NAMES[np.asarray(codes)]
