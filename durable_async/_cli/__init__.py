"""The ``durable-async`` command line, one module per command family; see durable_async.cli."""
