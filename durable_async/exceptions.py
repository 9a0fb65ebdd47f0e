"""The exceptions durable_async raises, one hierarchy rooted at DurableExecutionsError.

::

    DurableExecutionsError
    ├── ValidationError                 bad arguments or limits, before anything is sent
    ├── SerDesError                     a value could not be serialized or deserialized
    ├── DurableOperationError           an operation failed (its recorded error, rebuilt)
    │   ├── StepError
    │   ├── CallbackError
    │   │   ├── CallbackTimeoutError
    │   │   ├── CallbackExternalError  the callback's sender reported a failure
    │   │   └── CallbackSubmitterError wait_for_callback's submitter failed
    │   ├── InvokeError
    │   ├── ChildContextError
    │   └── WaitForConditionError
    ├── InvalidStateError               an object asked for something its state forbids
    ├── PluginLoadError                 a plugin factory could not be loaded
    └── UnrecoverableError              the invocation cannot go on
        ├── ExecutionError              fails the execution
        │   └── NonDeterministicExecutionError
        └── InvocationError             fails the invocation; the service retries it
            ├── CheckpointError         a checkpoint call failed (see ``retryable``)
            ├── RetryableSerDesError    a SerDes failed transiently (a timed-out upload)
            └── StepInterruptedError

Control flow is not an error: these derive from ``BaseException``, as in the reference SDK, so
user code that catches ``Exception`` cannot swallow them::

    SuspendExecution                    end this invocation as PENDING
    └── TimedSuspendExecution           ... the service re-invokes at scheduled_timestamp
    OrphanedChildException              the operation's context has already completed
"""

from __future__ import annotations

__all__ = [
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildContextError",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvalidStateError",
    "InvokeError",
    "NonDeterministicExecutionError",
    "OrphanedChildException",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "StepError",
    "StepInterruptedError",
    "SuspendExecution",
    "TimedSuspendExecution",
    "UnrecoverableError",
    "ValidationError",
    "WaitForConditionError",
]


class DurableExecutionsError(Exception):
    """The root of every error durable_async raises."""


class ValidationError(DurableExecutionsError):
    """An argument or a limit was violated; nothing was sent for the offending operation."""


class SerDesError(DurableExecutionsError):
    """A value could not be serialized or deserialized by its SerDes."""


class DurableOperationError(DurableExecutionsError):
    """A durable operation failed; carries the recorded error's fields.

    The same exception is raised on the first run and on every replay, rebuilt from the
    checkpointed ``ErrorObject``: ``error_type`` is the type name of the error that escaped the
    operation (for example ``"ValueError"``), ``message`` its message, ``data`` optional
    serialized data and ``stack_trace`` the lines captured where it was raised.
    """

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type or f"{type(self).__module__}.{type(self).__qualname__}"
        self.data = data
        self.stack_trace = stack_trace

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.error_type, self.data, self.stack_trace))


class StepError(DurableOperationError):
    """A step failed and its retry strategy gave up."""


class CallbackError(DurableOperationError):
    """A callback was completed with a failure."""


class CallbackTimeoutError(CallbackError):
    """A callback timed out or missed its heartbeat."""


class CallbackExternalError(CallbackError):
    """The callback was completed with a failure by whoever held its id."""


class CallbackSubmitterError(CallbackError):
    """The submitter of a wait_for_callback failed, so the callback id was never handed out."""


class InvokeError(DurableOperationError):
    """A chained invoke's target failed."""


class ChildContextError(DurableOperationError):
    """A child context's function failed."""


class WaitForConditionError(DurableOperationError):
    """A wait_for_condition ran out of attempts or its check failed."""


class InvalidStateError(DurableExecutionsError):
    """An operation was asked of an object in a state that does not allow it."""


class PluginLoadError(DurableExecutionsError):
    """An instrumentation plugin could not be loaded (``plugins=`` or
    ``DURABLE_EXECUTION_PLUGINS``); raised when the handler is built."""


class UnrecoverableError(DurableExecutionsError):
    """The invocation cannot continue."""


class ExecutionError(UnrecoverableError):
    """An error that fails the whole execution; retrying the invocation would not help."""


class NonDeterministicExecutionError(ExecutionError):
    """The code asked for a different operation than the one recorded at the same id."""

    def __init__(self, message: str, step_id: str | None = None) -> None:
        super().__init__(message)
        self.step_id = step_id


class InvocationError(UnrecoverableError):
    """An error that fails this invocation only; the service retries the invocation.

    ``error_type`` is the type the service records for the failed invocation: the class name,
    or ``Runtime.ExitError`` when user code called ``sys.exit`` (as Lambda records it).
    """

    def __init__(self, message: str = "", *, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type or type(self).__name__


class CheckpointError(InvocationError):
    """A checkpoint or state call to the service failed.

    ``retryable`` is True for throttling, server and network errors and stale tokens (the
    invocation fails and the service retries it), False for a rejected request (the execution
    fails).
    """

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_checkpoint_error, (str(self), self.retryable, self.code))


def _rebuild_checkpoint_error(message: str, retryable: bool, code: str | None) -> CheckpointError:
    return CheckpointError(message, retryable=retryable, code=code)


class RetryableSerDesError(InvocationError):
    """A SerDes failed transiently: fail this invocation so the service retries it.

    Raise it from a SerDes whose failure may pass (an offloading SerDes whose upload timed
    out); raise SerDesError for a failure that would recur.
    """


class StepInterruptedError(InvocationError):
    """An at-most-once step attempt started but was never recorded as finished."""

    def __init__(self, message: str, step_id: str | None = None) -> None:
        super().__init__(message)
        self.step_id = step_id


class SuspendExecution(BaseException):
    """End this invocation as PENDING; the service invokes the function again later.

    The SDK raises it into every waiting operation when nothing else can progress. Let it
    propagate: an invocation that suspended answers PENDING even if user code swallowed it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TimedSuspendExecution(SuspendExecution):
    """Suspend until ``scheduled_timestamp`` (epoch seconds), the earliest known resume time."""

    def __init__(self, message: str, scheduled_timestamp: float) -> None:
        super().__init__(message)
        self.scheduled_timestamp = scheduled_timestamp


class OrphanedChildException(BaseException):
    """The operation belongs to a context that has completed (or a map or parallel abandoned).

    Nothing of it is checkpointed; the operation's code stops here.
    """

    def __init__(self, message: str, operation_id: str = "") -> None:
        super().__init__(message)
        self.operation_id = operation_id
