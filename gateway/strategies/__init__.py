"""Strategies, the positions and PnL ledger, the spec's loss guards and run statistics.

See docs/strategies.md. The engine builds strategies with :func:`registry.build_all`,
feeds them :class:`base.BookTop` updates and outcomes, applies every fill to a
:class:`ledger.Ledger` and checks each strategy's :class:`guard.Guard`.
"""
