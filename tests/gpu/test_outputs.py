"""Output memory: ``out=`` buffers, the recycling pool of the CPU backend, the int32
option-type pass-through and the greeks loop's dynamic chunks."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from nanogate.gpu import analytics, cpu
from nanogate.gpu.backend import GREEK_NAMES
from nanogate.gpu.bench import chain
from nanogate.gpu.status import Status


def _args(n: int, seed: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    c = chain(n, seed)
    return [c[x] for x in ("s", "k", "t", "r", "q", "sigma")], c["cp"]


def _same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))  # identical bits


def test_price_greeks_out_matches_and_is_returned() -> None:
    args, cp = _args(5000)
    ref = analytics.price_greeks(*args, cp, backend="cpu")
    out: dict[str, Any] = {nm: np.full(5000, 7.0) for nm in GREEK_NAMES}
    out["status"] = np.full(5000, 9, np.int32)
    got = analytics.price_greeks(*args, cp, backend="cpu", out=out)
    for nm, a in out.items():
        assert got[nm] is a
        _same(a, ref[nm])


def test_price_greeks_out_subset_and_broadcast_shape() -> None:
    s = np.linspace(80, 120, 12).reshape(3, 4)
    price = np.empty((3, 4))
    got = analytics.price_greeks(s, 100.0, 0.5, 0.01, 0.0, 0.2, "call", greeks=("price", "vega"),
                                 backend="cpu", out={"price": price})
    ref = analytics.price_greeks(s, 100.0, 0.5, 0.01, 0.0, 0.2, "call", greeks=("price", "vega"),
                                 backend="cpu")
    assert got["price"] is price
    assert set(got) == {"price", "vega", "status"}
    assert got["vega"].shape == (3, 4) and got["status"].shape == (3, 4)
    _same(price, ref["price"])
    _same(got["vega"], ref["vega"])


def test_implied_vol_out() -> None:
    args, cp = _args(3000)
    price = analytics.price_greeks(*args, cp, greeks=("price",), backend="cpu")["price"]
    ref_v, ref_s = analytics.implied_vol(price, *args[:5], cp, backend="cpu")
    vol, st = np.empty(3000), np.empty(3000, np.int32)
    got_v, got_s = analytics.implied_vol(price, *args[:5], cp, backend="cpu", out=(vol, st))
    assert got_v is vol and got_s is st
    _same(vol, ref_v)
    _same(st, ref_s)


@pytest.mark.parametrize(("bad", "exc", "match"), [
    (np.empty(10, np.float32), TypeError, r"out\['price'\] has dtype float32, expected float64"),
    (np.empty(11), ValueError, r"out\['price'\] has shape \(11,\), expected \(10,\)"),
    (np.empty(20)[::2], ValueError, r"out\['price'\] must be C-contiguous"),
    ([0.0] * 10, TypeError, r"out\['price'\] must be a numpy.ndarray, not list"),
])
def test_price_greeks_out_rejects(bad: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        analytics.price_greeks(np.full(10, 100.0), 100.0, 1.0, 0.0, 0.0, 0.2, "call",
                               backend="cpu", out={"price": bad})


def test_out_rejects_read_only_overlap_and_unrequested() -> None:
    s = np.full(10, 100.0)
    ro = np.empty(10)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", backend="cpu",
                               out={"price": ro})
    with pytest.raises(ValueError, match="overlaps an input"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", backend="cpu",
                               out={"price": s})
    buf = np.empty(20)
    with pytest.raises(ValueError, match="overlaps an input or another output"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", backend="cpu",
                               out={"price": buf[:10], "delta": buf[5:15]})
    with pytest.raises(ValueError, match=r"out\['vega'\] was not requested"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", greeks=("price",),
                               backend="cpu", out={"vega": np.empty(10)})
    with pytest.raises(TypeError, match=r"out\['status'\] has dtype int64, expected int32"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", backend="cpu",
                               out={"status": np.empty(10, np.int64)})
    with pytest.raises(ValueError, match="unknown greek 'charm'"):
        analytics.price_greeks(s, 100.0, 1.0, 0.0, 0.0, 0.2, "call", greeks=("charm",),
                               backend="cpu")


def test_implied_vol_out_rejects() -> None:
    p = np.full(4, 10.0)
    with pytest.raises(TypeError, match=r"\(vol, status\) pair"):
        analytics.implied_vol(p, 100.0, 100.0, 1.0, 0.0, 0.0, "call", backend="cpu",
                              out=np.empty(4))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"out\['status'\] has dtype int64, expected int32"):
        analytics.implied_vol(p, 100.0, 100.0, 1.0, 0.0, 0.0, "call", backend="cpu",
                              out=(np.empty(4), np.empty(4, np.int64)))
    with pytest.raises(ValueError, match=r"out\['vol'\] has shape \(2, 2\), expected \(4,\)"):
        analytics.implied_vol(p, 100.0, 100.0, 1.0, 0.0, 0.0, "call", backend="cpu",
                              out=(np.empty((2, 2)), np.empty(4, np.int32)))


def test_pool_recycles_only_dropped_results() -> None:
    pool = cpu.OutputPool(64 << 20, min_bytes=1 << 10)
    a, st = pool.arrays(100_000, ("x", "y"))
    addr = {a["x"].ctypes.data, a["y"].ctypes.data}
    assert st is not None and st.dtype == np.int32 and st.shape == (100_000,)
    assert all(v.base is None and v.flags.owndata for v in (a["x"], a["y"], st))
    b, _ = pool.arrays(100_000, ("x", "y"))  # a is alive: new arrays
    assert not addr & {b["x"].ctypes.data, b["y"].ctypes.data}
    view = a["y"][10:20]  # a view keeps its array (only that one) from reuse
    del a, st
    c, _ = pool.arrays(100_000, ("x",), status=False)
    assert c["x"].ctypes.data in addr
    d, _ = pool.arrays(100_000, ("x",), status=False)
    assert d["x"].ctypes.data not in addr
    del view
    e, _ = pool.arrays(100_000, ("x",), status=False)
    assert e["x"].ctypes.data in addr
    f, _ = pool.arrays(99_999, ("x",), status=False)  # another length: a new array
    assert f["x"].shape == (99_999,)
    del b, c, d, e, f


def test_pool_is_bounded() -> None:
    pool = cpu.OutputPool(4 << 20, min_bytes=1 << 10, max_arrays=3)
    held = [pool.arrays(100_000, ("x",)) for _ in range(5)]  # 0.8 MB + 0.4 MB each
    assert pool.nbytes <= 4 << 20 and len(pool._arrays) <= 3
    small = pool.arrays(10, ("x",))  # under min_bytes: plain memory
    big = pool.arrays(1_000_000, ("x",))  # over max_bytes: plain memory
    assert len(pool._arrays) <= 3
    pool.clear()
    assert pool.nbytes == 0
    off = cpu.OutputPool(0)
    off.arrays(100_000, ("x",))
    assert off.nbytes == 0
    del held, small, big


def test_results_survive_later_calls() -> None:
    args, cp = _args(40_000)
    first = analytics.price_greeks(*args, cp, backend="cpu")
    snapshot = {nm: a.copy() for nm, a in first.items()}
    args2, cp2 = _args(40_000, seed=4)
    for _ in range(3):
        analytics.price_greeks(*args2, cp2, backend="cpu")
        analytics.implied_vol(first["price"], *args[:5], cp, backend="cpu")
    for nm, a in first.items():
        _same(a, snapshot[nm])


def test_concurrent_calls_get_their_own_results() -> None:
    inputs = [_args(30_000, seed) for seed in range(4)]
    expected = [analytics.price_greeks(*a, c, backend="cpu")["price"].copy() for a, c in inputs]
    errors: list[str] = []

    def work(i: int) -> None:
        a, c = inputs[i]
        for _ in range(5):
            got = analytics.price_greeks(*a, c, backend="cpu")["price"]
            if not np.array_equal(got, expected[i]):
                errors.append(f"thread {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def test_int32_option_types_pass_through_and_bad_codes_are_invalid() -> None:
    flags = np.array([1, 0, 2, -1, 7], np.int32)
    assert analytics.parse_option_type(flags) is flags
    g = analytics.price_greeks(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, flags, backend="cpu")
    assert list(g["status"]) == [Status.OK] * 2 + [Status.INVALID_INPUT] * 3
    _, st = analytics.implied_vol(10.0, 100.0, 100.0, 1.0, 0.0, 0.0, flags, backend="cpu")
    assert list(st[2:]) == [Status.INVALID_INPUT] * 3
    # int64 codes that would wrap to 1 in int32 stay invalid
    g = analytics.price_greeks(100.0, 100.0, 1.0, 0.0, 0.0, 0.2,
                               np.array([2**32 + 1, 1], np.int64), backend="cpu")
    assert list(g["status"]) == [Status.INVALID_INPUT, Status.OK]
    assert analytics.parse_option_type(np.array([True, False])).dtype == np.int32


@pytest.mark.parametrize("n", [1, 1023, 1025, 8193, 100_003])
def test_greeks_chunking_does_not_change_bits(n: int) -> None:
    args, cp = _args(n, seed=5)
    before = cpu.max_threads()
    try:
        cpu.set_threads(1)
        one = analytics.price_greeks(*args, cp, backend="cpu")
        cpu.set_threads(max(2, before))
        many = analytics.price_greeks(*args, cp, backend="cpu")
    finally:
        cpu.set_threads(before)
    for nm in (*GREEK_NAMES, "status"):
        _same(one[nm], many[nm])


def test_streamed_outputs_match_cached_ones() -> None:
    # 800,000 options x 68 bytes of outputs > 48 MB: the kernel writes with non-temporal
    # stores (aligned arrays) or memcpy (an 8-byte-misaligned out=); halves stay below
    n = 800_000
    args, cp = _args(n, seed=6)
    whole = analytics.price_greeks(*args, cp, backend="cpu")
    raw = {nm: np.empty(n + 1)[1:] for nm in GREEK_NAMES}
    assert raw["price"].ctypes.data % 16 == 8
    odd = analytics.price_greeks(*args, cp, backend="cpu", out=raw)
    h = n // 2
    for part in (slice(0, h), slice(h, n)):
        piece = analytics.price_greeks(*(a[part] for a in args), cp[part], backend="cpu")
        for nm in (*GREEK_NAMES, "status"):
            _same(whole[nm][part], piece[nm])
            _same(odd[nm][part], piece[nm])


def test_pool_size_from_the_environment_and_bad_values_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    from nanogate.gpu.cpu import _pool_limit

    assert _pool_limit("0") == 0 and _pool_limit("1.5") == 3 << 19
    assert capsys.readouterr().err == ""
    for bad in ("lots", "-1", "nan", "inf"):
        assert _pool_limit(bad) == 256 << 20
        assert f"NANOGATE_OUTPUT_POOL_MB={bad!r}" in capsys.readouterr().err
