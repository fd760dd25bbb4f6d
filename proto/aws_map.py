"""The AWS custom logic's address map, defined once for the gateware and the host driver.

OCL BAR0 (AXI4-Lite, 32-bit registers) is cut into 4 KiB banks: the feed
parser's registers, the risk pipeline's, and the platform's own. The PCIS
BAR4 (512-bit AXI4 inbound) holds 64 KiB windows the host writes packets,
orders and updates into and reads records and decisions from.
``nanogate.hw.platforms`` builds the custom logic from this map and
``nanogate.gateway.device.aws`` drives it.
"""

from __future__ import annotations

from nanogate.proto.regmap import Access, Register, register_map

OCL_FEED_BASE = 0x0000
OCL_RISK_BASE = 0x1000
OCL_PLATFORM_BASE = 0x2000
OCL_BANK_BYTES = 0x1000
#: What ``platform_id`` reads on a nanogate custom logic: ASCII "NGT1".
PLATFORM_ID = 0x4E475431

PLATFORM_REGS = register_map("aws platform", [
    Register("platform_id", Access.RO, 32, "0x4E475431 ('NGT1') on a nanogate custom logic"),
    Register("records_ready", Access.RO, 32, "BookEvent records waiting in the record window"),
    Register("decisions_ready", Access.RO, 32, "Decision records waiting in the decision window"),
], doc="Platform registers of the AWS custom logic (OCL BAR0 + 0x2000).")

BEAT_BYTES = 64
WINDOW_BYTES = 0x10000
PACKET_WINDOW = 0x00000
ORDER_WINDOW = 0x10000
UPDATE_WINDOW = 0x20000
RECORD_WINDOW = 0x40000
DECISION_WINDOW = 0x50000
#: OCL BAR0 and PCIS BAR4 of the application physical function.
OCL_BAR, PCIS_BAR = 0, 4
