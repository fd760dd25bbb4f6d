"""The host data path: burst receive, shared-memory rings, A/B arbitration, gap recovery.

Modules, in the order a packet meets them:

* :mod:`.addr` / :mod:`.sockets`: ``HOST:PORT`` endpoints, multicast sockets;
* :mod:`.rx`: ``recvmmsg`` burst receive into the buffer pool (``recv_into`` fallback);
* :mod:`.ring`: the buffer pool and the single-producer/single-consumer descriptor ring
  in shared memory, between the receive process and the worker;
* :mod:`.framing`: MoldUDP64 header parse, batch validation, and the burst passes
  (sequence order, in-order classification) the arbiter's fast path uses;
* :mod:`.arbiter`: first copy wins, held window, gap state machine and retransmission;
* :mod:`.resume`: the last applied sequence number, kept across restarts;
* :mod:`.metrics`: counters, HdrHistogram latencies, Prometheus ``/metrics``;
* :mod:`.recorder`: per-line pcap recording;
* :mod:`.runner`: the gateway itself (receive process or inline receive + worker +
  device + books), with per-batch hooks (:class:`~.runner.AppliedBatch`).
"""
