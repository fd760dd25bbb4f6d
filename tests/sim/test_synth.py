"""The synthetic ITCH 5.0 session: exact size, determinism, book consistency, both writers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from nanogate.gateway.book import BookSet
from nanogate.gateway.feed import fast
from nanogate.gateway.feed.source import open_feed
from nanogate.proto import binaryfile, moldudp64
from nanogate.proto.itch import MESSAGES, decode_message, encode_message
from nanogate.proto.wire import Kind, Value
from nanogate.sim import synth
from nanogate.sim.synth import (
    MPIDS,
    SESSION_TYPES,
    TICK,
    Columns,
    fixed_overhead,
    generate_session,
    output_format,
    symbol,
    write_synthetic,
)

MARKET_OPEN, MARKET_CLOSE = 9 * 3600 * 10**9 + 1800 * 10**9, 16 * 3600 * 10**9


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 1,000 body messages, so small sessions cross chunk boundaries."""
    monkeypatch.setattr(synth, "_CHUNK", 1_000)


def expected_message(columns: Columns, i: int, symbols: tuple[str, ...]) -> dict[str, Value]:
    """What row ``i`` must say, built field by field for the reference encoder."""
    type_char = chr(columns.msg_type[i])
    locate = int(columns.stock_locate[i])
    ref, new_ref = int(columns.order_ref[i]), int(columns.new_order_ref[i])
    shares, price = int(columns.shares[i]), int(columns.price[i])
    match, side, code = int(columns.match_number[i]), chr(columns.side[i]), chr(columns.code[i])
    stock = symbols[locate - 1] if locate else ""
    body: dict[str, dict[str, Value]] = {
        "S": {"event_code": code},
        "A": {"order_reference_number": ref, "buy_sell_indicator": side, "shares": shares,
              "stock": stock, "price": price},
        "F": {"order_reference_number": ref, "buy_sell_indicator": side, "shares": shares,
              "stock": stock, "price": price,
              "attribution": MPIDS[int(columns.attribution[i])]},
        "E": {"order_reference_number": ref, "executed_shares": shares, "match_number": match},
        "C": {"order_reference_number": ref, "executed_shares": shares, "match_number": match,
              "printable": code, "execution_price": price},
        "X": {"order_reference_number": ref, "cancelled_shares": shares},
        "D": {"order_reference_number": ref},
        "U": {"original_order_reference_number": ref, "new_order_reference_number": new_ref,
              "shares": shares, "price": price},
        "P": {"order_reference_number": ref, "buy_sell_indicator": side, "shares": shares,
              "stock": stock, "price": price, "match_number": match},
        "Q": {"shares": shares, "stock": stock, "cross_price": price, "match_number": match,
              "cross_type": code},
        "I": {"paired_shares": shares, "imbalance_shares": int(columns.imbalance_shares[i]),
              "imbalance_direction": side, "stock": stock,
              "far_price": int(columns.far_price[i]), "near_price": int(columns.near_price[i]),
              "current_reference_price": price, "cross_type": code,
              "price_variation_indicator": chr(columns.price_variation[i]).rstrip()},
        "R": {"stock": stock, "market_category": "Q", "financial_status_indicator": "N",
              "round_lot_size": 100, "round_lots_only": "N", "issue_classification": "C",
              "issue_sub_type": "Z", "authenticity": "P", "short_sale_threshold_indicator": "N",
              "ipo_flag": "N", "luld_reference_price_tier": "1", "etp_flag": "N",
              "etp_leverage_factor": 0, "inverse_indicator": "N"},
        "H": {"stock": stock, "trading_state": "T", "reserved": "", "reason": ""},
    }
    return {"type": type_char, "stock_locate": locate,
            "tracking_number": int(columns.tracking_number[i]),
            "timestamp": int(columns.timestamp[i]), **body[type_char]}


def replay(types: str, locates: list[int], refs: list[int], new_refs: list[int],
           shares: list[int]) -> dict[int, list[int]]:
    """Apply every order message to a book; fail on anything a real book would reject.

    Returns the live orders (reference -> [locate, shares left]).
    """
    live: dict[int, list[int]] = {}
    last_ref = 0
    for i, t in enumerate(types):
        ref, locate, qty = refs[i], locates[i], shares[i]
        if t in "AF":
            if ref <= last_ref or qty <= 0:
                raise AssertionError(f"message {i}: add {ref} after {last_ref}, {qty} shares")
            last_ref = ref
            live[ref] = [locate, qty]
        elif t in "ECXDU":
            order = live.get(ref)
            if order is None:
                raise AssertionError(f"message {i}: {t} names unknown or dead order {ref}")
            if order[0] != locate:
                raise AssertionError(f"message {i}: {t} on locate {locate}, order is {order[0]}")
            if t in "EC":
                if not 0 < qty <= order[1]:
                    raise AssertionError(f"message {i}: executes {qty} of {order[1]} left")
                order[1] -= qty
                if order[1] == 0:
                    del live[ref]
            elif t == "X":
                if not 0 < qty < order[1]:
                    raise AssertionError(f"message {i}: cancels {qty} of {order[1]} left")
                order[1] -= qty
            elif t == "D":
                del live[ref]
            else:
                if new_refs[i] <= last_ref or qty <= 0:
                    raise AssertionError(f"message {i}: replace to {new_refs[i]} after "
                                         f"{last_ref}, {qty} shares")
                last_ref = new_refs[i]
                del live[ref]
                live[last_ref] = [locate, qty]
        elif t == "P" and ref != 0:
            raise AssertionError(f"message {i}: a trade names order {ref}")
    return live


def replay_columns(columns: Columns) -> dict[int, list[int]]:
    return replay(columns.msg_type.tobytes().decode(), columns.stock_locate.tolist(),
                  columns.order_ref.tolist(), columns.new_order_ref.tolist(),
                  columns.shares.tolist())


# --- size, order, determinism ------------------------------------------------------------


@pytest.mark.parametrize(("messages", "instruments"), [(8, 1), (9, 1), (3_000, 7), (1_234, 40)])
def test_exactly_n_messages(messages: int, instruments: int) -> None:
    session = generate_session(messages, instruments, seed=3)
    assert len(list(session.messages())) == messages
    assert len(session.columns()) == messages
    assert len(binaryfile.frame(session.binaryfile_bytes()).messages) == messages


def test_tickers_then_numbered_symbols() -> None:
    assert [symbol(n) for n in (1, 2, 16, 17, 65535)] == ["AAPL", "MSFT", "QCOM", "SYM0017",
                                                          "SYM65535"]


def test_start_and_end_of_day_in_order() -> None:
    k = 5
    decoded = [decode_message(m) for m in generate_session(500, k, seed=1).messages()]
    assert [(m["type"], m.get("event_code")) for m in decoded[:2]] == [("S", "O"), ("S", "S")]
    directory, actions = decoded[2:2 + k], decoded[2 + k:2 + 2 * k]
    assert [(m["type"], m["stock_locate"], m["stock"]) for m in directory] == [
        ("R", n, name) for n, name in enumerate(("AAPL", "MSFT", "NVDA", "AMZN", "GOOG"), 1)]
    assert [(m["type"], m["stock_locate"], m["trading_state"]) for m in actions] == [
        ("H", n, "T") for n in range(1, k + 1)]
    assert (decoded[2 + 2 * k]["type"], decoded[2 + 2 * k]["event_code"]) == ("S", "Q")
    assert [m["event_code"] for m in decoded[-3:]] == ["M", "E", "C"]
    body = decoded[3 + 2 * k:-3]
    assert len(body) == 500 - fixed_overhead(k)
    assert {m["type"] for m in body} <= set("AFECXDUPQI")
    assert all(m["stock_locate"] == 0 for m in decoded if m["type"] == "S")


def test_largest_instrument_count_with_no_body() -> None:
    k = synth.MAX_INSTRUMENTS
    columns = generate_session(fixed_overhead(k), k, seed=0).columns()
    assert len(columns) == 2 * k + 6
    assert Counter(columns.msg_type.tobytes().decode()) == {"S": 6, "R": k, "H": k}
    last_directory = next(m for i, m in enumerate(generate_session(fixed_overhead(k), k, 0)
                                                  .messages()) if i == k + 1)
    assert decode_message(last_directory)["stock"] == "SYM65535"


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = generate_session(20_000, 6, seed=11).binaryfile_bytes()
    assert generate_session(20_000, 6, seed=11).binaryfile_bytes() == first
    assert generate_session(20_000, 6, seed=12).binaryfile_bytes() != first
    assert generate_session(20_000, 7, seed=11).binaryfile_bytes() != first


def test_same_seed_same_files(tmp_path: Path) -> None:
    for suffix in (".itch", ".pcap"):
        a = write_synthetic(tmp_path / f"a{suffix}", 5_000, 3, seed=9).path.read_bytes()
        b = write_synthetic(tmp_path / f"b{suffix}", 5_000, 3, seed=9).path.read_bytes()
        assert a == b and len(a) > 5_000 * 12


# --- the encoding ----------------------------------------------------------------------------


def test_vectorised_encoding_matches_reference_encoder(small_chunks: None) -> None:
    session = generate_session(20_000, 4, seed=5)
    columns = session.columns()
    messages = list(session.messages())
    assert set(columns.msg_type.tobytes().decode()) == set(SESSION_TYPES)  # every type seen
    for i, raw in enumerate(messages):
        expected = expected_message(columns, i, session.symbols)
        assert decode_message(raw) == expected, f"message {i}"
        assert encode_message(expected) == raw, f"message {i}"


def test_message_dtypes_come_from_the_table() -> None:
    for type_char in SESSION_TYPES:
        spec = MESSAGES[type_char]
        dtype = synth.message_dtype(spec)
        assert dtype.itemsize == spec.length
        for f in spec.wire.fields:
            if f.kind is Kind.TIMESTAMP:
                assert dtype.fields is not None
                assert dtype.fields[f"{f.name}.high"][1] == f.offset
                assert dtype.fields[f"{f.name}.low"][1] == f.offset + 2
            else:
                assert dtype.fields is not None and dtype.fields[f.name][1] == f.offset
                assert dtype.fields[f.name][0].itemsize == f.width


# --- the book --------------------------------------------------------------------------------


def test_book_consistent_across_chunks(small_chunks: None) -> None:
    # one instrument: the book fills to its target (256 orders) and adds turn into deletes
    columns = generate_session(60_000, 1, seed=2).columns()
    live = replay_columns(columns)
    assert 0 < len(live) <= 256
    types = Counter(columns.msg_type.tobytes().decode())
    assert types["D"] > types["A"] + types["F"] - 256 - types["E"] - types["C"]


def test_book_consistent_at_the_real_chunk_size() -> None:
    columns = generate_session(synth._CHUNK + 20_000, 30, seed=4).columns()
    live = replay_columns(columns)
    assert live
    refs = columns.order_ref[np.isin(columns.msg_type, np.frombuffer(b"AF", np.uint8))]
    assert (np.diff(refs) > 0).all()


def test_match_numbers_increase_and_prices_sit_on_the_grid(small_chunks: None) -> None:
    columns = generate_session(30_000, 5, seed=8).columns()
    types = columns.msg_type
    matched = np.isin(types, np.frombuffer(b"ECPQ", np.uint8))
    assert (np.diff(columns.match_number[matched]) > 0).all()
    priced = np.isin(types, np.frombuffer(b"AFUCPQI", np.uint8))
    prices = columns.price[priced]
    assert (prices > 0).all() and (prices % TICK == 0).all() and (prices < 2**32).all()
    # buys are quoted below the mid and sells above: per instrument, buys sit lower
    adds = np.isin(types, np.frombuffer(b"AF", np.uint8))
    for locate in range(1, 6):
        mine = adds & (columns.stock_locate == locate)
        buys = columns.price[mine & (columns.side == ord("B"))]
        sells = columns.price[mine & (columns.side == ord("S"))]
        assert np.median(buys) < np.median(sells)


def test_timestamps_non_decreasing_within_the_day(small_chunks: None) -> None:
    columns = generate_session(25_000, 3, seed=6).columns()
    stamps = columns.timestamp
    assert (np.diff(stamps) >= 0).all()
    assert stamps[0] >= 0 and stamps[-1] < 24 * 3600 * 10**9
    body = stamps[3 + 2 * 3:-3]
    assert body[0] >= MARKET_OPEN and body[-1] <= MARKET_CLOSE
    # spread over the market hours, not bunched at one end
    assert body[len(body) // 2] - MARKET_OPEN > 2 * 3600 * 10**9
    assert MARKET_CLOSE - body[len(body) // 2] > 2 * 3600 * 10**9


# --- the files -------------------------------------------------------------------------------


def test_binaryfile_and_pcap_read_back_the_same_events(tmp_path: Path, small_chunks: None
                                                       ) -> None:
    n = 12_000
    itch = write_synthetic(tmp_path / "day.itch", n, 4, seed=21)
    pcap = write_synthetic(tmp_path / "day.pcap", n, 4, seed=21)
    assert (itch.format, pcap.format, itch.packets) == ("binaryfile", "pcap", 0)
    decoded = {}
    for summary in (itch, pcap):
        feed = open_feed(summary.path)
        assert feed.format == summary.format
        result = fast.decode(feed)
        assert len(result.events) == n and result.fault_total == 0
        assert result.gaps == 0 and result.duplicates == 0
        assert result.events["seq"].tolist() == list(range(1, n + 1))
        decoded[summary.format] = result
    assert decoded["pcap"].end_of_session == 1
    assert decoded["pcap"].datagrams == pcap.packets
    assert decoded["binaryfile"].events.tolist() == decoded["pcap"].events.tolist()
    assert sum(itch.counts.values()) == n
    assert Counter(decoded["binaryfile"].events["msg_type"].tobytes().decode()) == itch.counts


def test_pcap_packets_are_what_packetize_cuts(tmp_path: Path, small_chunks: None) -> None:
    session = generate_session(9_000, 3, seed=13)
    summary = session.write(tmp_path / "day.pcap")
    feed = open_feed(summary.path)
    reference = moldudp64.packetize(synth.DEFAULT_MOLD_SESSION, list(session.messages()),
                                    max_payload=synth.MAX_PAYLOAD)
    reference.append(moldudp64.Packet(synth.DEFAULT_MOLD_SESSION, 9_001, end_of_session=True))
    assert [d.payload for d in feed.datagrams] == [p.encode() for p in reference]
    assert summary.packets == len(reference)
    assert (np.diff([d.timestamp for d in feed.datagrams]) > 0).all()
    assert {(d.source, d.destination) for d in feed.datagrams} == {
        (("127.0.0.1", 40000), ("239.1.1.1", 5001))}


def test_book_replays_from_the_decoded_file(tmp_path: Path) -> None:
    summary = write_synthetic(tmp_path / "day.bin", 40_000, 8, seed=17)
    events = fast.decode(open_feed(summary.path)).events
    live = replay(events["msg_type"].tobytes().decode(), events["stock_locate"].tolist(),
                  events["order_ref"].tolist(), events["new_order_ref"].tolist(),
                  events["shares"].tolist())
    assert live


def test_format_from_suffix_or_argument(tmp_path: Path) -> None:
    assert output_format("x.pcap") == output_format("X.PCAP") == "pcap"
    for name in ("x.itch", "x.bin", "x", "x.dat"):
        assert output_format(name) == "binaryfile"
    assert output_format("x.pcap", "itch") == "binaryfile"
    summary = write_synthetic(tmp_path / "day.dat", 200, 2, seed=1, fmt="pcap")
    assert summary.format == "pcap" and open_feed(summary.path).format == "pcap"
    with pytest.raises(ValueError, match="pcapng"):
        output_format("x.pcapng")
    with pytest.raises(ValueError, match="unknown output format"):
        write_synthetic(tmp_path / "day.x", 200, 2, seed=1, fmt="csv")
    assert not (tmp_path / "day.x").exists()


def test_progress_is_reported_to_the_end(tmp_path: Path, small_chunks: None) -> None:
    calls: list[tuple[int, int]] = []
    write_synthetic(tmp_path / "day.itch", 5_500, 2, seed=1,
                    progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 3 and calls[-1] == (5_500, 5_500)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_synthetic(tmp_path / "day.itch", 500, 2, seed=1, progress=stop)
    assert list(tmp_path.iterdir()) == []


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(("messages", "instruments", "seed", "match"), [
    (13, 4, 1, "at least 14"),
    (0, 1, 1, "at least 8"),
    (100, 0, 1, "instruments must be 1..65535"),
    (10**6, 65_536, 1, "instruments must be 1..65535"),
    (100, 2, -1, "seed must be >= 0"),
    (100.0, 2, 1, "messages must be an integer"),
])
def test_bad_arguments_are_clear_errors(messages: int, instruments: int, seed: int,
                                        match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_session(messages, instruments, seed)


# --- size (the speed is benchmarks/bench_decode.py's to report) --------------------------


@pytest.mark.slow
def test_a_million_messages_decode_cleanly(tmp_path: Path) -> None:
    summary = write_synthetic(tmp_path / "big.itch", 1_000_000, 50, seed=1)
    assert summary.messages == 1_000_000
    result = fast.decode(open_feed(summary.path))
    assert len(result.events) == 1_000_000 and result.fault_total == 0


# --- books never cross ---------------------------------------------------------------------


def _crossed(books: BookSet, locates: Iterable[int]) -> list[str]:
    """The books among ``locates`` whose best bid is at or above their best ask."""
    bad = []
    for locate in locates:
        book = books.book(locate)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and bid.price >= ask.price:
            bad.append(f"locate {locate}: bid {bid.price} >= ask {ask.price}")
    return bad


def _events(tmp_path: Path, messages: int, instruments: int, seed: int) -> np.ndarray:
    summary = write_synthetic(tmp_path / "day.bin", messages, instruments, seed=seed)
    return fast.decode(open_feed(summary.path)).events


def test_no_book_crosses_or_locks_after_any_event(tmp_path: Path, small_chunks: None) -> None:
    # few instruments: the mids wander through the resting orders most often
    events = _events(tmp_path, 40_000, 3, seed=5)
    books = BookSet()
    types = events["msg_type"].tobytes().decode()
    for i, locate in enumerate(events["stock_locate"].tolist()):
        books.apply(events[i:i + 1])
        if locate in books.books:
            assert not _crossed(books, [locate]), f"after event {i} ({types[i]})"
    assert books.issues == 0 and len(books.books) == 3


def test_no_book_crosses_or_locks_in_a_long_session(tmp_path: Path) -> None:
    events = _events(tmp_path, synth._CHUNK + 200_000, 20, seed=9)
    books = BookSet()
    for start in range(0, len(events), 200):
        books.apply(events[start:start + 200])
        assert not _crossed(books, books.books), f"after events {start}..{start + 199}"
    assert books.issues == 0 and len(books.books) == 20

