"""Interop suite: durable_async handlers driven by the reference emulator (`dex-local-runner`)."""
