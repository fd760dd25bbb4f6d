"""``nanogate serve``: run the control plane (register with ``register(commands)``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:50051; port 0 picks one)")
    parser.add_argument("--db", default="nanogate-control.db", metavar="PATH",
                        help="SQLite state and audit database (default ./nanogate-control.db)")
    from nanogate.gateway.device.options import add_device_arguments

    add_device_arguments(parser, help="risk pipeline backend (default software): software, "
                                      "rtl-sim, aws (F2/F1 AFI), pynq (Kria overlay)")
    parser.add_argument("--tokens", metavar="FILE",
                        help="tokens file; created with a random admin token when missing "
                             "(default: nanogate-tokens.yaml beside --db)")
    parser.add_argument("--symbols", metavar="FILE",
                        help="YAML mapping SYMBOL: stock_locate, loaded into the directory")
    parser.add_argument("--tls-cert", type=Path, metavar="F")
    parser.add_argument("--tls-key", type=Path, metavar="F")
    parser.add_argument("--client-ca", type=Path, metavar="F",
                        help="require client certificates signed by this CA (mTLS)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the gRPC control plane (strategies, limits, halts, audit)",
        description="Serve the nanogate control plane: state in SQLite, limits and halts "
                    "written into the device's risk pipeline, every change audited.")
    add_arguments(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from nanogate.control.auth import TokensError, create_tokens_file, load_tokens
    from nanogate.control.errors import ControlError
    from nanogate.control.plane import ControlPlane
    from nanogate.control.server import Tls, build_server
    from nanogate.control.store import Store, StoreError
    from nanogate.gateway.device import DeviceError
    from nanogate.gateway.device.options import device_from_args
    from nanogate.proto.controlapi import control_pb2 as pb

    if (args.tls_cert is None) != (args.tls_key is None) or (args.client_ca and not args.tls_cert):
        print("nanogate serve: --tls-cert and --tls-key go together; --client-ca needs them",
              file=sys.stderr)
        return EXIT_USAGE
    tokens_path = Path(args.tokens or Path(args.db).resolve().parent / "nanogate-tokens.yaml")
    try:
        if not tokens_path.exists():
            create_tokens_file(tokens_path)
            print(f"nanogate serve: created {tokens_path} with a random admin token "
                  "(mode 0600)", file=sys.stderr)
        tokens = load_tokens(tokens_path)
        store = Store(args.db)
        plane = ControlPlane(store, device_from_args(args).risk_engine(), args.device)
        if args.symbols:
            mapping = yaml.safe_load(Path(args.symbols).read_text()) or {}
            if not isinstance(mapping, dict):
                raise TokensError(f"{args.symbols}: expected a mapping SYMBOL: stock_locate")
            plane.set_symbols("serve --symbols", [pb.Symbol(symbol=str(s), stock_locate=int(v))
                                                  for s, v in mapping.items()])
        tls = Tls(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
        server, port = build_server(plane, tokens, args.listen, tls)
    except (TokensError, StoreError, DeviceError, ControlError, OSError, ValueError) as error:
        print(f"nanogate serve: {error}", file=sys.stderr)
        return EXIT_FAILED
    host = args.listen.rsplit(":", 1)[0]
    security = "mTLS" if args.client_ca else "TLS" if tls else "plaintext"
    print(f"nanogate serve: listening on {host}:{port} ({security}, "
          f"device {args.device}, db {args.db})", file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    store.close()
    print("nanogate serve: stopped", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nanogate serve")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
