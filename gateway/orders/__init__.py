"""Order entry: intents -> device risk -> OUCH over SoupBinTCP -> outcomes.

``OrderRouter`` (``router.py``) checks orders on the device's risk pipeline and sends
what passes through one ``OuchSession`` (``session.py``) per account; orders the
venue rejects or that are lost with a connection go to the ``DeadLetterStore``
(``deadletter.py``). docs/orders.md states the flow and the recovery rules.
"""
