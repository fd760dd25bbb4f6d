"""Order books: hand-made event sequences per message type, every counted issue,
random streams against a brute-force rebuild, and the shared ITCH sample."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanogate.gateway.book import BookIssue, BookSet, Level, OrderRecord, format_price
from nanogate.proto.records import BOOK_EVENT_DTYPE, EventFlags

Row = tuple[object, ...]


def ev(msg_type: bytes, locate: int = 1, side: bytes = b"", ref: int = 0, new_ref: int = 0, *,
       shares: int = 0, price: int = 0, stock: bytes = b"", flags: int = 0, seq: int = 0) -> Row:
    """One BookEvent row in BOOK_EVENT_DTYPE field order."""
    return (seq, 0, msg_type, locate, side, ref, new_ref, shares, price, 0, stock, flags)


def arr(*rows: Row) -> npt.NDArray[np.void]:
    return np.array(list(rows), dtype=BOOK_EVENT_DTYPE)


def applied(*rows: Row) -> BookSet:
    books = BookSet()
    books.apply(arr(*rows))
    return books


def add(ref: int, side: bytes, shares: int, price: int, locate: int = 1, *,
        stock: bytes = b"AAPL    ", kind: bytes = b"A") -> Row:
    return ev(kind, locate, side, ref, shares=shares, price=price, stock=stock)


def levels(books: BookSet, locate: int = 1) -> tuple[list[tuple[int, int, int]], ...]:
    bids, asks = books.book(locate).depth(None)
    return ([(lv.price, lv.shares, lv.orders) for lv in bids],
            [(lv.price, lv.shares, lv.orders) for lv in asks])


# -- every message type's effect ---------------------------------------------------------


def test_adds_aggregate_into_levels_in_price_priority() -> None:
    books = applied(
        add(1, b"B", 100, 1_000_000), add(2, b"B", 50, 1_000_000), add(3, b"B", 70, 990_000),
        add(4, b"S", 30, 1_010_000), add(5, b"S", 20, 1_020_000, kind=b"F"),
        add(6, b"S", 10, 1_010_000, kind=b"F"), add(7, b"B", 5, 1_005_000),
    )
    assert levels(books) == (
        [(1_005_000, 5, 1), (1_000_000, 150, 2), (990_000, 70, 1)],
        [(1_010_000, 40, 2), (1_020_000, 20, 1)],
    )
    book = books.book(1)
    assert book.best_bid() == Level(1_005_000, 5, 1)
    assert book.best_ask() == Level(1_010_000, 40, 2)
    assert book.orders == 7
    assert books.orders[5] == (1, b"S", 1_020_000, 20)
    assert book.depth(2) == ([Level(1_005_000, 5, 1), Level(1_000_000, 150, 2)],
                             [Level(1_010_000, 40, 2), Level(1_020_000, 20, 1)])
    assert book.depth(0) == ([], [])
    assert not books.counters


def test_execute_reduces_then_removes_at_zero() -> None:
    books = applied(add(1, b"B", 100, 500_000), add(2, b"B", 40, 500_000),
                    ev(b"E", 1, ref=1, shares=30))
    assert levels(books)[0] == [(500_000, 110, 2)]
    assert books.orders[1] == (1, b"B", 500_000, 70)
    books.apply(arr(ev(b"E", 1, ref=1, shares=70)))
    assert 1 not in books.orders
    assert levels(books)[0] == [(500_000, 40, 1)]
    books.apply(arr(ev(b"E", 1, ref=2, shares=40)))
    assert levels(books) == ([], [])
    assert books.book(1).best_bid() is None
    assert not books.counters


def test_execute_with_price_uses_the_resting_price() -> None:
    # C carries the execution price; the shares still leave the order's own level.
    books = applied(add(1, b"S", 100, 700_000), ev(b"C", 1, ref=1, shares=25, price=690_000))
    assert levels(books) == ([], [(700_000, 75, 1)])
    books.apply(arr(ev(b"C", 1, ref=1, shares=75, price=710_000)))
    assert levels(books) == ([], [])
    assert not books.counters


def test_cancel_is_partial_and_delete_is_whole() -> None:
    books = applied(add(1, b"S", 100, 700_000), add(2, b"S", 100, 710_000),
                    ev(b"X", 1, ref=1, shares=60), ev(b"D", 1, ref=2))
    assert levels(books) == ([], [(700_000, 40, 1)])
    assert books.orders == {1: (1, b"S", 700_000, 40)}
    books.apply(arr(ev(b"X", 1, ref=1, shares=40)))
    assert books.orders == {}
    assert not books.counters


def test_replace_moves_the_order_keeping_side_and_instrument() -> None:
    books = applied(add(1, b"B", 100, 500_000, locate=7), add(2, b"B", 10, 500_000, locate=7),
                    ev(b"U", 7, ref=1, new_ref=9, shares=300, price=510_000))
    assert books.orders == {2: (7, b"B", 500_000, 10), 9: (7, b"B", 510_000, 300)}
    assert levels(books, 7) == ([(510_000, 300, 1), (500_000, 10, 1)], [])
    # The new ref is a normal order afterwards.
    books.apply(arr(ev(b"D", 7, ref=9)))
    assert levels(books, 7) == ([(500_000, 10, 1)], [])
    assert not books.counters


def test_replace_to_the_same_ref_is_allowed() -> None:
    books = applied(add(1, b"S", 100, 500_000), ev(b"U", 1, ref=1, new_ref=1, shares=5,
                                                   price=505_000))
    assert books.orders == {1: (1, b"S", 505_000, 5)}
    assert not books.counters


@pytest.mark.parametrize("kind", [b"P", b"Q", b"S", b"H", b"I", b"B", b"Z", b""])
def test_other_types_leave_the_book_alone(kind: bytes) -> None:
    books = applied(add(1, b"B", 100, 500_000),
                    ev(kind, 1, b"B", ref=1, new_ref=2, shares=100, price=500_000))
    assert levels(books) == ([(500_000, 100, 1)], [])
    assert books.orders == {1: (1, b"B", 500_000, 100)}
    assert not books.counters
    assert books.types[kind.decode() or "\x00"] == 1


def test_books_are_separate_per_locate_but_refs_are_shared() -> None:
    books = applied(add(1, b"B", 100, 500_000, locate=1), add(2, b"B", 200, 600_000, locate=2),
                    ev(b"E", 2, ref=2, shares=50))
    assert levels(books, 1) == ([(500_000, 100, 1)], [])
    assert levels(books, 2) == ([(600_000, 150, 1)], [])
    # A ref is unique feed-wide: adding ref 1 on another locate is a duplicate.
    books.apply(arr(add(1, b"S", 1, 1, locate=2)))
    assert books.counters == Counter({BookIssue.DUPLICATE_ADD: 1})


def test_directory_names_books_and_add_stock_is_the_fallback() -> None:
    books = applied(
        ev(b"R", 1, stock=b"ALC     "), ev(b"R", 2, stock=b"BOB     "),
        add(1, b"B", 100, 500_000, locate=1, stock=b"WRONG   "),
        add(2, b"B", 100, 500_000, locate=3, stock=b"CHAR    "),
    )
    assert books.symbols() == {"ALC": 1, "BOB": 2, "CHAR": 3}
    assert books.book_by_symbol("ALC").locate == 1
    assert books.book_by_symbol("CHAR").best_bid() == Level(500_000, 100, 1)
    assert books.book(1).symbol == "ALC"
    # BOB is listed but has no order yet: an empty book, not an error.
    assert books.book_by_symbol("BOB").depth() == ([], [])
    with pytest.raises(KeyError, match="NOPE"):
        books.book_by_symbol("NOPE")
    with pytest.raises(KeyError, match="42"):
        books.book(42)
    # Names learned later replace what was looked up before.
    books.apply(arr(ev(b"R", 3, stock=b"CHAR2   ")))
    assert books.symbols() == {"ALC": 1, "BOB": 2, "CHAR2": 3}
    books.apply(arr(add(3, b"S", 1, 1, locate=4, stock=b"DAN ")))
    assert books.symbols() == {"ALC": 1, "BOB": 2, "CHAR2": 3, "DAN": 4}
    assert books.book_by_symbol("CHAR2") is books.book(3)
    assert books.book(4).symbol == "DAN"


def test_a_symbol_on_two_locates_names_the_lower_one() -> None:
    books = applied(ev(b"R", 5, stock=b"TWIN    "), ev(b"R", 2, stock=b"TWIN    "))
    assert books.symbols() == {"TWIN": 2}
    assert books.book_by_symbol("TWIN").locate == 2
    assert books.symbol(5) == "TWIN"


def test_duplicate_flagged_events_are_skipped_and_counted() -> None:
    dup = int(EventFlags.DUPLICATE)
    books = applied(
        add(1, b"B", 100, 500_000),
        ev(b"D", 1, ref=1, flags=dup),
        ev(b"A", 1, b"S", ref=2, shares=5, price=1, flags=dup),
        ev(b"R", 1, stock=b"DUP     ", flags=dup),
        ev(b"E", 1, ref=1, shares=10, flags=int(EventFlags.GAP)),  # a gap is applied
    )
    assert books.orders == {1: (1, b"B", 500_000, 90)}
    assert books.counters == Counter({BookIssue.DUPLICATE_EVENT: 3})
    assert books.issues == 0
    assert books.symbols() == {"AAPL": 1}


# -- every counted issue -------------------------------------------------------------------


@pytest.mark.parametrize("kind", [b"E", b"C", b"X", b"D", b"U"])
def test_unknown_ref_is_counted(kind: bytes) -> None:
    books = applied(add(1, b"B", 100, 500_000),
                    ev(kind, 1, ref=2, new_ref=3, shares=10, price=600_000))
    assert books.counters == Counter({BookIssue.UNKNOWN_REF: 1})
    assert books.orders == {1: (1, b"B", 500_000, 100)}
    assert books.issues == 1


def test_duplicate_add_keeps_the_live_order() -> None:
    books = applied(add(1, b"B", 100, 500_000), add(1, b"S", 7, 900_000, kind=b"F"))
    assert books.counters == Counter({BookIssue.DUPLICATE_ADD: 1})
    assert levels(books) == ([(500_000, 100, 1)], [])


@pytest.mark.parametrize("kind", [b"E", b"C", b"X"])
def test_overfill_is_clamped_and_removes_the_order(kind: bytes) -> None:
    books = applied(add(1, b"S", 100, 500_000), add(2, b"S", 10, 500_000),
                    ev(kind, 1, ref=1, shares=150))
    assert books.counters == Counter({BookIssue.OVERFILL: 1})
    assert levels(books) == ([], [(500_000, 10, 1)])
    assert 1 not in books.orders


def test_replace_onto_a_live_ref_removes_the_original_only() -> None:
    books = applied(add(1, b"B", 100, 500_000), add(2, b"S", 50, 600_000),
                    ev(b"U", 1, ref=1, new_ref=2, shares=30, price=510_000))
    assert books.counters == Counter({BookIssue.REPLACE_REF_EXISTS: 1})
    assert books.orders == {2: (1, b"S", 600_000, 50)}
    assert levels(books) == ([], [(600_000, 50, 1)])


@pytest.mark.parametrize("side", [b"Z", b"b", b"", b"\x01"])
def test_bad_side_is_counted_and_skipped(side: bytes) -> None:
    books = applied(add(1, side, 100, 500_000))
    assert books.counters == Counter({BookIssue.BAD_SIDE: 1})
    assert books.orders == {}
    assert all(not b.bids.levels and not b.asks.levels for b in books.books.values())


def test_an_add_with_two_faults_is_counted_once() -> None:
    books = applied(add(1, b"Z", 0, 500_000))
    assert books.counters == Counter({BookIssue.BAD_SIDE: 1})


def test_zero_share_events_are_counted_and_change_nothing() -> None:
    books = applied(add(1, b"B", 100, 500_000), add(2, b"B", 0, 500_000),
                    ev(b"E", 1, ref=1, shares=0), ev(b"X", 1, ref=1, shares=0),
                    ev(b"U", 1, ref=1, new_ref=3, shares=0, price=1))
    # The zero-share U still removes its original: the exchange says it is gone.
    assert books.counters == Counter({BookIssue.ZERO_SHARES: 4})
    assert books.orders == {}
    assert levels(books) == ([], [])


def test_locate_mismatch_is_counted_and_applied_by_ref() -> None:
    books = applied(add(1, b"B", 100, 500_000, locate=1), add(2, b"S", 5, 9, locate=2),
                    ev(b"E", 2, ref=1, shares=10),
                    ev(b"U", 3, ref=1, new_ref=4, shares=20, price=490_000))
    assert books.counters == Counter({BookIssue.LOCATE_MISMATCH: 2})
    assert books.orders[4] == (1, b"B", 490_000, 20)  # the original's locate, not 3
    assert levels(books, 1) == ([(490_000, 20, 1)], [])
    assert levels(books, 2) == ([], [(9, 5, 1)])


def test_wrong_dtype_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="BOOK_EVENT_DTYPE"):
        BookSet().apply(np.zeros(3, np.int64))


# -- formatting ----------------------------------------------------------------------------


def test_format_price() -> None:
    assert format_price(1_234_500) == "123.4500"
    assert format_price(1) == "0.0001"
    assert format_price(0) == "0.0000"
    assert format_price(-25) == "-0.0025"
    assert Level(99_990_000, 1, 1).dollars == "9999.0000"


def test_format_depth_shows_both_sides_in_dollars() -> None:
    books = applied(ev(b"R", 1, stock=b"ALC     "),
                    add(1, b"B", 300, 1_234_500), add(2, b"B", 200, 1_234_500),
                    add(3, b"B", 50, 1_230_000), add(4, b"S", 75, 1_240_001))
    text = books.book(1).format_depth(5)
    lines = text.splitlines()
    assert lines[0] == "ALC (locate 1): 4 orders, 2 bid / 1 ask levels"
    assert lines[2].split() == ["2", "500", "123.4500", "|", "124.0001", "75", "1"]
    assert lines[3].split() == ["1", "50", "123.0000", "|"]
    assert len(lines) == 4
    assert books.book(1).format_depth(1).count("\n") == 2
    empty = applied(add(1, b"B", 1, 1), ev(b"D", 1, ref=1)).book(1).format_depth()
    assert "(empty)" in empty


# -- random streams against a brute-force rebuild ------------------------------------------


def random_stream(seed: int, n: int, bad: float, instruments: int = 3) -> npt.NDArray[np.void]:
    """A mostly book-consistent event stream; with probability ``bad`` an event is broken
    in one of the ways the book counts. Prices sit on few ticks so levels are shared,
    emptied and re-created often."""
    rng = random.Random(seed)
    live: dict[int, list[int]] = {}  # the generator's own idea of live orders (may drift)
    refs: list[int] = []
    rows: list[Row] = []
    next_ref = 1

    def pick() -> int:
        while refs:
            i = rng.randrange(len(refs))
            ref = refs[i]
            if ref in live:
                return ref
            refs[i] = refs[-1]
            refs.pop()
        return 0

    for seq in range(1, n + 1):
        loc = rng.randint(1, instruments)
        side = rng.choice((b"B", b"S"))
        price = 1_000_000 + 100 * rng.randint(-8, 8)
        shares = rng.choice((1, 50, 100, 100, 200, 1000))
        ref = pick()
        op = rng.random()
        if rng.random() < bad:
            kind = rng.randrange(8)
            if kind == 0:  # unknown ref
                rows.append(ev(rng.choice((b"E", b"C", b"X", b"D", b"U")), loc, ref=10**12 + seq,
                               new_ref=next_ref, shares=shares, price=price, seq=seq))
            elif kind == 1 and ref:  # duplicate add
                rows.append(ev(b"A", loc, side, ref, shares=shares, price=price, seq=seq))
            elif kind == 2 and ref:  # overfill
                rows.append(ev(rng.choice((b"E", b"C", b"X")), live[ref][0], ref=ref,
                               shares=live[ref][2] + rng.randint(1, 100), seq=seq))
                del live[ref]
            elif kind == 3 and ref:  # replace onto a live ref (maybe itself)
                rows.append(ev(b"U", live[ref][0], ref=ref, new_ref=pick(), shares=shares,
                               price=price, seq=seq))
                del live[ref]
            elif kind == 4:  # bad side
                rows.append(ev(b"A", loc, rng.choice((b"", b"X", b"b")), next_ref,
                               shares=shares, price=price, seq=seq))
            elif kind == 5:  # zero shares
                rows.append(ev(rng.choice((b"A", b"E", b"X", b"U")), loc, side, ref or next_ref,
                               next_ref + 1, shares=0, price=price, seq=seq))
            elif kind == 6 and ref:  # wrong locate
                rows.append(ev(b"D", live[ref][0] % instruments + 1, ref=ref, seq=seq))
                del live[ref]
            elif rows:  # a duplicate of an earlier event
                old = list(rows[rng.randrange(len(rows))])
                old[-1] = int(EventFlags.DUPLICATE)
                rows.append(tuple(old))
            continue
        if not ref or op < 0.45:
            rows.append(ev(rng.choice((b"A", b"F")), loc, side, next_ref, shares=shares,
                           price=price, stock=b"S%-7d" % loc, seq=seq))
            live[next_ref] = [loc, price, shares]
            refs.append(next_ref)
            next_ref += 1
        elif op < 0.70:
            rows.append(ev(b"D", live[ref][0], ref=ref, seq=seq))
            del live[ref]
        elif op < 0.85:
            left = live[ref][2]
            take = rng.randint(1, left)
            rows.append(ev(rng.choice((b"E", b"C", b"X")), live[ref][0], ref=ref, shares=take,
                           price=price, seq=seq))
            if take == left:
                del live[ref]
            else:
                live[ref][2] = left - take
        elif op < 0.95:
            rows.append(ev(b"U", live[ref][0], ref=ref, new_ref=next_ref, shares=shares,
                           price=price, seq=seq))
            live[next_ref] = [live.pop(ref)[0], price, shares]
            refs.append(next_ref)
            next_ref += 1
        else:
            rows.append(ev(rng.choice((b"P", b"Q", b"S")), loc, side, ref, shares=shares,
                           price=price, seq=seq))
    return np.array(rows, dtype=BOOK_EVENT_DTYPE)


def brute_force(events: npt.NDArray[np.void]) -> tuple[dict[int, OrderRecord], Counter[str]]:
    """Replay naively: the live orders and the issue counts, nothing incremental."""
    live: dict[int, OrderRecord] = {}
    issues: Counter[str] = Counter()
    for row in events.tolist():
        _, _, kind, loc, side, ref, new_ref, shares, price, _, _, flags = row
        if flags & EventFlags.DUPLICATE:
            issues["duplicate_event"] += 1
        elif kind in (b"A", b"F"):
            if side not in (b"B", b"S"):
                issues["bad_side"] += 1
            elif shares == 0:
                issues["zero_shares"] += 1
            elif ref in live:
                issues["duplicate_add"] += 1
            else:
                live[ref] = (loc, side, price, shares)
        elif kind in (b"E", b"C", b"X", b"D", b"U"):
            if ref not in live:
                issues["unknown_ref"] += 1
                continue
            oloc, oside, oprice, oshares = live[ref]
            if oloc != loc:
                issues["locate_mismatch"] += 1
            if kind in (b"E", b"C", b"X"):
                if shares == 0:
                    issues["zero_shares"] += 1
                elif shares < oshares:
                    live[ref] = (oloc, oside, oprice, oshares - shares)
                else:
                    if shares > oshares:
                        issues["overfill"] += 1
                    del live[ref]
            else:
                del live[ref]
                if kind == b"U":
                    if new_ref in live:
                        issues["replace_ref_exists"] += 1
                    elif shares == 0:
                        issues["zero_shares"] += 1
                    else:
                        live[new_ref] = (oloc, oside, price, shares)
    return live, issues


def rebuilt_levels(live: dict[int, OrderRecord]) -> dict[tuple[int, bytes], list[Level]]:
    """(locate, side) -> every level, best first, recomputed from the live orders."""
    sums: dict[tuple[int, bytes, int], list[int]] = {}
    for loc, side, price, shares in live.values():
        total = sums.setdefault((loc, side, price), [0, 0])
        total[0] += shares
        total[1] += 1
    out: dict[tuple[int, bytes], list[Level]] = {}
    for (loc, side, price), (shares, count) in sums.items():
        out.setdefault((loc, side), []).append(Level(price, shares, count))
    for (_, side), side_levels in out.items():
        side_levels.sort(key=lambda lv: lv.price, reverse=side == b"B")
    return out


def assert_matches_brute_force(books: BookSet, events: npt.NDArray[np.void]) -> None:
    live, issues = brute_force(events)
    assert books.orders == live
    assert books.counters == issues
    expected = rebuilt_levels(live)
    for loc, book in books.books.items():
        bids, asks = book.depth(None)
        assert bids == expected.get((loc, b"B"), [])
        assert asks == expected.get((loc, b"S"), [])
        assert book.best_bid() == (bids[0] if bids else None)
        assert book.best_ask() == (asks[0] if asks else None)
        assert book.depth(3) == (bids[:3], asks[:3])
        assert book.orders == sum(1 for o in live.values() if o[0] == loc)
        # the sorted keys and the level dict describe the same set of prices
        assert not book.bids.changed and not book.asks.changed  # depth() synced them
        assert sorted(book.bids.sorted_keys()) == book.bids.sorted_keys()
        assert sorted(book.asks.sorted_keys()) == book.asks.sorted_keys()
        assert set(book.bids.sorted_keys()) == set(book.bids.levels)
        assert {-k for k in book.asks.sorted_keys()} == set(book.asks.levels)
    assert {loc for loc, _ in expected} <= books.books.keys()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400),
       bad=st.sampled_from([0.0, 0.0, 0.03, 0.3]))
def test_random_streams_match_brute_force(seed: int, n: int, bad: float) -> None:
    events = random_stream(seed, n, bad)
    books = BookSet()
    books.apply(events)
    assert_matches_brute_force(books, events)
    if bad == 0.0:
        assert books.issues == 0


def test_long_stream_matches_brute_force_and_issues_occur() -> None:
    events = random_stream(12345, 20_000, 0.05, instruments=5)
    books = BookSet()
    books.apply(events)
    assert_matches_brute_force(books, events)
    # the generator really exercised every reason
    assert set(books.counters) == set(BookIssue)
    assert len(books.orders) > 100


def test_chunked_and_one_by_one_application_equal_one_pass() -> None:
    events = random_stream(7, 3_000, 0.05)
    whole = BookSet()
    whole.apply(events)
    chunked = BookSet()
    for part in np.array_split(events, 17):
        chunked.apply(part)
    single = BookSet()
    for row in events[:500]:
        single.apply_one(row)
    single.apply(events[500:])
    for other in (chunked, single):
        assert other.orders == whole.orders
        assert other.counters == whole.counters
        assert other.types == whole.types
        for loc, book in whole.books.items():
            assert other.book(loc).depth(None) == book.depth(None)


def test_reading_between_small_batches_keeps_levels_sorted() -> None:
    # Reads after every few events take the incremental path of the deferred sort;
    # the long batches at the end take the re-sort path.
    events = random_stream(99, 1_500, 0.05)
    books = BookSet()
    rng = random.Random(5)
    start = 0
    while start < len(events):
        size = rng.randint(1, 6) if start < 1_000 else 250
        books.apply(events[start:start + size])
        start += size
        expected = rebuilt_levels(books.orders)
        for loc, book in books.books.items():
            n = None if rng.random() < 0.5 else 4
            assert book.depth(n) == (expected.get((loc, b"B"), [])[:n],
                                     expected.get((loc, b"S"), [])[:n])
    assert_matches_brute_force(books, events)


# -- the shared sample file ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_events(sample_path: Path) -> npt.NDArray[np.void]:
    from nanogate.gateway.feed import fast
    from nanogate.gateway.feed.source import open_feed
    return fast.decode(open_feed(sample_path)).events


def test_sample_builds_and_matches_brute_force(sample_events: npt.NDArray[np.void]) -> None:
    books = BookSet()
    books.apply(sample_events)
    assert len(sample_events) == 12_012
    # The sample is not book-consistent: 117 E/X/D/U events (94 D, 18 E, 3 X, 2 U) name an
    # order whose A comes one to a few messages *later* (e.g. seq 110 D ref 1440692, seq
    # 111 A ref 1440692). They are counted as unknown refs and those 117 adds then rest.
    assert books.counters == Counter({BookIssue.UNKNOWN_REF: 117})
    assert_matches_brute_force(books, sample_events)
    assert books.symbols() == {"ALC": 1, "BOB": 2, "CHAR": 3}
    assert len(books.orders) == 3204
    tops = {name: (books.book_by_symbol(name).best_bid(), books.book_by_symbol(name).best_ask())
            for name in books.symbols()}
    # Synthetic data: every book ends crossed, with or without the 117 late adds.
    assert tops == {
        "ALC": (Level(270_600, 100, 1), Level(205_400, 100, 1)),
        "BOB": (Level(69_667, 100, 1), Level(53_417, 100, 1)),
        "CHAR": (Level(256_500, 30, 1), Level(195_750, 5, 1)),
    }


# -- table growth, many books, unusual refs and layouts ------------------------------------


def test_growth_of_orders_levels_and_books_matches_brute_force() -> None:
    # Thousands of live orders, hundreds of levels per side and over a thousand locates
    # in one call: every table grows (and the note buffer fills) while the batch runs.
    rng = random.Random(3)
    rows: list[Row] = [ev(b"R", loc, stock=b"N%-7d" % loc) for loc in range(1, 1_500)]
    live: list[int] = []
    locates: dict[int, int] = {}
    for ref in range(1, 30_001):
        if live and rng.random() < 0.3:
            victim = live.pop(rng.randrange(len(live)))
            rows.append(ev(b"D", locates[victim], ref=victim))
        locates[ref] = rng.randint(1, 1_400)
        rows.append(add(ref, rng.choice((b"B", b"S")), rng.randint(1, 500),
                        rng.randint(1, 5_000) * 100, locate=locates[ref]))
        live.append(ref)
    events = arr(*rows)
    books = BookSet()
    books.apply(events)
    live_orders, issues = brute_force(events)
    assert books.orders == live_orders
    assert not books.counters and not issues
    assert len(books.orders) > 20_000
    assert len(books.books) == 1_400
    assert books.symbols()["N77"] == 77
    expected = rebuilt_levels(live_orders)
    for loc, book in books.books.items():
        assert book.depth(None) == (expected.get((loc, b"B"), []), expected.get((loc, b"S"), []))
    # The same stream a packet at a time gives the same books.
    small = BookSet()
    for start in range(0, len(events), 40):
        small.apply(events[start:start + 40])
    assert small.orders == books.orders
    assert small.counters == books.counters
    assert small.types == books.types
    assert all(small.book(loc).depth(3) == book.depth(3) for loc, book in books.books.items())


def test_refs_use_all_64_bits_and_the_orders_mapping_reads_like_a_dict() -> None:
    big = (1 << 64) - 1
    books = applied(add(big, b"B", 10, 5), add(1 << 63, b"S", 20, 6), add(0, b"B", 30, 5),
                    ev(b"E", 1, ref=big, shares=4))
    assert books.orders == {big: (1, b"B", 5, 6), 1 << 63: (1, b"S", 6, 20), 0: (1, b"B", 5, 30)}
    assert len(books.orders) == 3 and sorted(books.orders) == [0, 1 << 63, big]
    assert big in books.orders and -1 not in books.orders and (1 << 64) not in books.orders
    assert "x" not in books.orders and books.orders.get(7) is None
    with pytest.raises(KeyError):
        books.orders[5]
    books.apply(arr(ev(b"U", 1, ref=1 << 63, new_ref=big - 1, shares=1, price=7)))
    assert books.orders[big - 1] == (1, b"S", 7, 1)
    assert books.book(1).depth(None) == ([Level(5, 36, 2)], [Level(7, 1, 1)])
    assert books.book(1).bids.levels[5] == 36 << 32 | 2 and 6 not in books.book(1).asks.levels


def test_strided_and_copied_arrays_apply_alike() -> None:
    events = random_stream(21, 2_000, 0.05)
    strided, packed = BookSet(), BookSet()
    strided.apply(events[::2])
    packed.apply(events[::2].copy())
    assert strided.orders == packed.orders
    assert strided.counters == packed.counters
    assert strided.types == packed.types


def test_changed_lists_levels_that_came_or_went_until_a_read() -> None:
    books = applied(add(1, b"B", 10, 100), add(2, b"S", 10, 200))
    side = books.book(1).bids
    assert side.changed == {100}
    assert side.sorted_keys() == [100] and not side.changed
    books.apply(arr(add(3, b"B", 5, 90), ev(b"D", 1, ref=1)))
    assert side.changed == {90, 100}
    assert books.book(1).best_bid() == Level(90, 5, 1)  # read without sorting
    assert side.changed == {90, 100}
    assert side.sorted_keys() == [90] and not side.changed
    assert books.book(1).asks.sorted_keys() == [-200]


def test_warm_up_loads_every_compiled_pass_a_session_uses() -> None:
    """In a fresh interpreter: after warm_up, every cached kernel of book_core has a
    specialization, and a session that grows the tables and reads top of book, depth and
    the orders mapping compiles nothing more."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numba
        import numpy as np
        from nanogate.gateway import book_core
        from nanogate.gateway.book import BookSet, warm_up
        from nanogate.proto.records import BOOK_EVENT_DTYPE

        kernels = {name: fn for name, fn in vars(book_core).items()
                   if isinstance(fn, numba.core.dispatcher.Dispatcher)
                   and fn.targetoptions.get("inline") != "always"}
        assert {"_apply", "_grow_orders", "_grow_levels", "_side_levels", "_best",
                "_lookup", "_dump"} <= kernels.keys(), sorted(kernels)
        warm_up()
        loaded = {name: list(fn.signatures) for name, fn in kernels.items()}
        assert all(loaded.values()), loaded

        n = 5000  # past the initial order table and level pool
        events = np.zeros(n, BOOK_EVENT_DTYPE)
        events["msg_type"] = b"A"
        events["stock_locate"] = 1 + np.arange(n) % 3
        events["side"] = np.where(np.arange(n) % 2, b"B", b"S")
        events["order_ref"] = 1 + np.arange(n)
        events["shares"] = 100
        events["price"] = 10_000 + np.arange(n)
        books = BookSet()
        books.apply(events)
        book = books.book(1)
        book.best_bid(), book.best_ask(), book.depth(5)
        assert 1 in books.orders and len(books.orders.to_dict()) == n
        after = {name: list(fn.signatures) for name, fn in kernels.items()}
        assert after == loaded, (loaded, after)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
