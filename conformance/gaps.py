"""Why ``dex-local-runner`` fails the requirements it fails: one named emulator gap per id."""

from __future__ import annotations

DEX_GAPS: dict[str, str] = {}
