"""An order that waits for a person's approval (a callback), then ships.

Serve it, then start it and approve it with the AWS CLI, as docs/serve.md walks through:

    durable-async serve --function approval=examples/approval.py:handler --port 8080
"""

from __future__ import annotations

import json
from typing import Any

from durable_async import DurableContext, WaitForCallbackContext, durable_execution


def ask_for_approval(callback_id: str, wctx: WaitForCallbackContext) -> None:
    # Here a real submitter would e-mail or page someone with the callback id; the id is also
    # in the execution's history (CallbackStarted), which is where docs/serve.md reads it.
    wctx.logger.info("approval requested", extra={"callback_id": callback_id})


@durable_execution
async def handler(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    order_id = event["order_id"]
    await ctx.step(lambda _: {"order_id": order_id, "reserved": True}, name="reserve")
    answer = await ctx.wait_for_callback(ask_for_approval, name="approval")
    decision = json.loads(answer)
    if not decision.get("approved"):
        return {"order_id": order_id, "status": "rejected"}
    await ctx.step(lambda _: {"order_id": order_id, "shipped": True}, name="ship")
    return {"order_id": order_id, "status": "shipped"}
