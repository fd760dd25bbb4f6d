"""The simulated venue: OUCH 5.0 over SoupBinTCP on loopback TCP, price-time matching.

``VenueServer`` (``server.py``) serves many accounts' sessions against one
``MatchingEngine`` (``matching.py``) whose books are seeded from an ITCH session
(``seed.py``); ``nanogate venue`` (``cli.py``) runs it for a demo. docs/orders.md
states the protocols and rules.
"""
