"""The control API's generated stubs (``proto/nanogate/v1/*.proto``; ``make generate``)."""
