"""The ITCH 5.0 / MoldUDP64 feed parser: payload beats in, BookEvent records out.

:mod:`.parser` is the core (``lib.stream`` ports), :mod:`.top` the AXI top level
(AXI-Stream in and out, AXI-Lite registers from
:data:`nanogate.proto.feed_regs.FEED_REGS`), :mod:`.tools` the ``nanogate hw
verilog|bench feed`` commands. See docs/hw-feed.md.
"""
