"""durable_async handlers for the conformance suite, one per requirement id.

Each module is one suite; the SAM-style templates in ``conformance/templates/`` name each
handler as ``module.attribute``. Importing any of them installs :mod:`._logs`, which writes log
records as JSON lines, the way Lambda's JSON log format writes them to CloudWatch.
"""
