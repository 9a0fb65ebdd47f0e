"""The AWS durable execution conformance suite, run against local durable services.

``conformance/handlers/`` holds durable_async handlers, one per requirement id of
``aws-durable-execution-conformance-tests``; ``conformance/templates/`` maps them to ids the way
the suite's SAM templates do; ``python -m conformance`` starts a local service, runs every
requirement with the suite's own validator and writes the results table into
``docs/conformance.md``.
"""
