"""ctx.invoke: run another durable function and wait for its result (a chained invoke).

START is awaited (the service must have recorded the invocation before this one may suspend);
then the operation waits, suspending the invocation, until the service records the target's
outcome. A failed, timed-out or stopped target raises ``InvokeError`` on the first run and on
every replay alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

from durable_async._context import DurableContext, OperationRef
from durable_async._models import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_async.config import InvokeConfig
from durable_async.exceptions import DurableOperationError, InvokeError, SerDesError
from durable_async.serdes import DEFAULT_JSON_SERDES, SerDes, deserialize, serialize

__all__ = ["rebuild_error", "run_invoke"]

E = TypeVar("E", bound=DurableOperationError)


def rebuild_error(error_cls: type[E], error: ErrorObject | None) -> E | SerDesError:
    """Rebuild an operation's recorded error as ``error_cls``, as the reference SDK does.

    A recorded SerDes failure comes back as ``SerDesError`` whatever the operation.
    """
    if error is None:
        return error_cls("Unknown error. No ErrorObject exists on the Checkpoint Operation.")
    if (error.error_type or "").rpartition(".")[2] == SerDesError.__name__:
        return SerDesError(error.error_message)
    return error_cls(error.error_message, error.error_type, error.error_data, error.stack_trace)


async def run_invoke(
    ctx: DurableContext,
    op_id: str,
    function_name: str,
    payload: Any,
    name: str | None,
    config: InvokeConfig[Any, Any],
) -> Any:
    """Start the chained invoke ``op_id`` unless recorded, wait for its outcome, return it."""
    runtime = ctx.runtime
    sub_type = OperationSubType.CHAINED_INVOKE
    ref = OperationRef(ctx, op_id, OperationType.CHAINED_INVOKE, sub_type, name)
    if ref.recorded() is None:
        serdes = runtime.serdes_for(config.serdes_payload, DEFAULT_JSON_SERDES)
        text = serialize(serdes, payload, op_id, runtime.arn)
        options: dict[str, Any] = {"FunctionName": function_name}
        if config.tenant_id is not None:
            options["TenantId"] = config.tenant_id
        if runtime.instrumentation is not None:
            trace_header = runtime.instrumentation.propagation(ref, function_name)
            if trace_header is not None:
                options["XAmznTraceId"] = trace_header
        await ref.send(
            OperationAction.START, payload=text, options=("ChainedInvokeOptions", options)
        )

    def finished() -> bool:
        current = runtime.state.get(op_id)
        return current is None or current.is_terminal

    label = name or function_name
    await runtime.activity.wait_until(finished, None, f"chained invoke {label} to finish")
    result_serdes = runtime.serdes_for(config.serdes_result, DEFAULT_JSON_SERDES)
    return _outcome(runtime.state.get(op_id), result_serdes, op_id, runtime.arn)


def _outcome(op: Operation | None, serdes: SerDes[Any], op_id: str, arn: str) -> Any:
    if op is None:
        raise InvokeError(f"The chained invoke {op_id} was started but the service lost it.")
    if op.status is not OperationStatus.SUCCEEDED:
        raise rebuild_error(InvokeError, op.error)
    if op.result is None:
        return None
    return deserialize(serdes, op.result, op_id, arn)
