"""Wait for a callback whose id the submitter writes to a file, so another process can answer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from durable_async import DurableContext, WaitForCallbackContext, durable_execution


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    def hand_out(callback_id: str, wctx: WaitForCallbackContext) -> None:
        # Written whole, then renamed, so the test never reads half an id.
        target = Path(event["callback_file"])
        partial = target.with_suffix(".partial")
        partial.write_text(callback_id, encoding="utf-8")
        os.replace(partial, target)

    answer = await ctx.wait_for_callback(hand_out, name="approval")
    return {"answer": json.loads(answer)}
