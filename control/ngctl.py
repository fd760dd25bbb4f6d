"""``ngctl``: the operator's CLI for the nanogate control plane.

The gRPC control plane it talks to is not built yet (see the control-plane
issue); until then ngctl explains itself and refuses every command with
exit status 2, so no script mistakes it for a working client.
"""

from __future__ import annotations

import argparse
import sys

_PLANNED = """\
commands (arriving with the control plane):
  get strategies|limits|halts|exposure|audit [NAME] [-o table|json|yaml]
  describe strategy NAME
  apply -f FILE [--dry-run]        delete strategy NAME
  halt (--all | --account N | --instrument SYM) --reason TEXT [--yes]
  resume ...                       reduce-only --account N [--off]
  cancel-all [--account N] [--instrument SYM] [--side buy|sell]
  limits set --instrument SYM [--max-qty N] [--max-notional X] [--collar-bps N] ...
  events [--follow] [--type ...]   audit verify        status

exit status: 0 ok, 1 failed, 2 usage, 3 not authenticated or not permitted, 4 not found
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ngctl", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Control a nanogate gateway: strategies, risk limits, halts, events, audit.",
        epilog=_PLANNED)
    parser.add_argument("command", nargs="?", help="see the list below")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print(f"ngctl: '{args.command}' is not available yet: this build has no control plane "
          "server to talk to", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
