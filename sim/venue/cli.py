"""``nanogate venue``: run the simulated venue until interrupted."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nanogate.gateway.argtypes import non_negative_float, positive_float
from nanogate.gateway.net.addr import Endpoint, parse_endpoint

_EPILOG = """\
protocol:
  SoupBinTCP 4.0 sessions carrying NASDAQ OUCH 5.0 (Enter, Replace, Cancel in;
  Accepted, Replaced, Canceled, Executed, Rejected out). Log in with a user
  name of up to 6 characters; each user name is one account with its own
  sequenced message stream for the whole run. Log in again with the sequence
  number of the next message you have not seen to get the rest replayed.

the book:
  Price-time matching per symbol, seeded with the resting orders of the ITCH
  session in --seed-from (after --seed-messages messages, default all), so
  that orders priced around the feed's mid meet its liquidity. Orders of the
  same account may trade with each other (no self-match prevention).

examples:
  nanogate feed synth --messages 200000 --instruments 8 -o day.itch
  nanogate venue --listen 127.0.0.1:9001 --seed-from day.itch
  nanogate venue --listen 127.0.0.1:9001 --seed-from day.itch --users users.yaml
  nanogate venue --seed-from day.itch --seed-messages 50000 --follow-rate 2000

users file (YAML): a mapping of user name to password, e.g.
  MM01: secret1
  MOM01: secret2
"""


def _listen(text: str) -> Endpoint:
    try:
        return parse_endpoint(text, port_zero=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    venue = commands.add_parser(
        "venue", help="run the simulated OUCH/SoupBinTCP venue",
        description="Serve a simulated exchange on TCP: SoupBinTCP login, heartbeats and "
                    "replay, OUCH 5.0 order entry, price-time matching against a book "
                    "seeded from an ITCH session. Runs until Ctrl-C, then prints its "
                    "counters.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    venue.add_argument("--listen", type=_listen, default=Endpoint("127.0.0.1", 9001),
                       metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:9001; "
                                                 "port 0 picks a free one)")
    venue.add_argument("--seed-from", type=Path, required=True, metavar="FILE",
                       help="ITCH 5.0 session (BinaryFILE or pcap) whose resting orders "
                            "seed the books; its symbols are the ones accepted")
    venue.add_argument("--seed-messages", type=int, default=None, metavar="N",
                       help="take the book after the first N messages (default: all)")
    venue.add_argument("--follow-rate", type=non_negative_float, default=0.0, metavar="R",
                       help="after seeding, play the rest of the session into the book as the "
                            "market's own flow at R events/s (adds, cancels, and executions "
                            "as orders from the other side, which hit better-priced quotes "
                            "of ours first); default 0: a static book")
    venue.add_argument("--users", type=Path, default=None, metavar="FILE",
                       help="YAML mapping user name -> password (default: any login "
                            "is accepted)")
    venue.add_argument("--heartbeat", type=positive_float, default=1.0, metavar="S",
                       help="seconds between server heartbeats on an idle session (default 1)")
    venue.add_argument("--idle-timeout", type=positive_float, default=15.0, metavar="S",
                       help="drop a client silent for this long (default 15)")
    venue.set_defaults(handler=_run)


def load_users(path: Path) -> dict[str, str]:
    """The users file: ValueError naming the problem."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read users file {path}: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping of user name -> password")
    users: dict[str, str] = {}
    for name, password in raw.items():
        name, password = str(name), str(password)
        if not (0 < len(name) <= 6 and name.isascii() and name.isalnum()):
            raise ValueError(f"{path}: user name {name!r} must be 1 to 6 letters or digits")
        if not (len(password) <= 10 and password.isascii() and " " not in password):
            raise ValueError(f"{path}: password of {name!r} must be up to 10 ASCII characters")
        users[name] = password
    return users


def _run(args: argparse.Namespace) -> int:
    from nanogate.sim.venue.seed import load_session
    from nanogate.sim.venue.server import VenueServer

    try:
        users = load_users(args.users) if args.users else None
        session = load_session(args.seed_from, args.seed_messages)
    except ValueError as error:
        print(f"nanogate: {error}", file=sys.stderr)
        return 2
    host, port = args.listen
    try:
        server = VenueServer(session.orders, users, host, port, heartbeat_s=args.heartbeat,
                             idle_timeout_s=args.idle_timeout)
    except OSError as error:
        print(f"nanogate: cannot listen on {host}:{port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    if args.follow_rate:
        server.follow(session.rest, session.symbols, args.follow_rate)
    address = server.address
    print(f"venue listening on {address[0]}:{address[1]}: {len(session.orders):,} resting "
          f"orders, {len(session.rest):,} events of flow to follow, over "
          f"{len(server.symbols)} symbols ({', '.join(sorted(server.symbols)[:8])}"
          f"{', ...' if len(server.symbols) > 8 else ''}); Ctrl-C stops", file=sys.stderr)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    for name, value in sorted(server.counters.items()):
        print(f"{name:32} {value:>12,}")
    return 0
