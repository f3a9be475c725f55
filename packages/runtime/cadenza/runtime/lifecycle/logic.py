"""Step 7: run the job's logic, with a timeout and retries for transient errors.

Each call runs on its own daemon thread (no process per call). When it overruns the
timeout the element is dead-lettered at once and the runner moves on; the thread is
abandoned, and if it ever finishes, its result is discarded, never written. A stuck
call therefore costs one idle thread, never the elements behind it (a shared pool
would fill up with stuck calls). Transient errors (ConnectionError, TimeoutError and
the logic's `transient_errors`) are retried with exponential backoff.

`shared=True` (streaming) sets the logic up once per process instead of once per DoFn
instance: Beam's bundle-based DirectRunner deserializes a fresh DoFn and calls
`setup`/`teardown` for every bundle. `release_shared_logic()` tears those down.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import apache_beam as beam
import attrs

from cadenza.core import JobConfig, Message
from cadenza.runtime.api import (
    ElementContext,
    ElementLogger,
    JobLogic,
    JobMetrics,
    Result,
    resolve_inputs,
    resolve_outputs,
)
from cadenza.runtime.gcs_clients import release_gcs_client
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import DEAD_LETTER, DeadLetter

LOGGER = logging.getLogger("cadenza.job")
ALWAYS_TRANSIENT = (ConnectionError, TimeoutError)
# the payload travels to the children in a Pub/Sub message (at most 10 MB, with the rest)
MAX_PAYLOAD_BYTES = 9_000_000


@attrs.frozen
class Produced:
    """A message and what the logic produced for it (never a bare tuple: the DaskRunner
    reads 2-tuples on multi-output steps as (tag, value) pairs)."""

    message: Message
    result: Result
    # digests of the inputs the logic read whole ({name: "sha256:..."}), for provenance
    input_digests: dict = attrs.field(factory=dict)


class LogicTimeout(TimeoutError):
    """The logic took longer than the job's `execution.timeout_s`."""


def check_result(config: JobConfig, result) -> str | None:
    """Why a value returned by the logic is not a valid Result, or None."""
    if not isinstance(result, Result):
        return f"process() returned {type(result).__name__}, expected cadenza.runtime.Result"
    declared = {loc.name for loc in config.data.outputs}
    unknown = sorted(set(result.outputs) - declared)
    if unknown:
        return (
            f"process() returned undeclared outputs {unknown}; data.outputs are {sorted(declared)}"
        )
    missing = sorted(declared - set(result.outputs))
    if missing and not result.partial:
        return f"process() returned no content for outputs {missing} (set partial=True if meant)"
    payload = result.payload
    if payload is not None and not isinstance(payload, bytes | bytearray):
        return f"process() returned a {type(payload).__name__} payload, expected bytes or None"
    if payload is not None and len(payload) > MAX_PAYLOAD_BYTES:
        return (
            f"process() returned a payload of {len(payload)} bytes; at most "
            f"{MAX_PAYLOAD_BYTES} fit in the children's Pub/Sub message (write it as an output)"
        )
    return None


_SHARED: dict[str, JobLogic] = {}
_SHARED_LOCK = threading.Lock()


def shared_key(logic: JobLogic) -> str:
    """The key under which `logic` and its deserialized copies share one set-up instance."""
    key = getattr(logic, "_cadenza_shared_key", None)
    if key is None:
        key = uuid.uuid4().hex
        logic._cadenza_shared_key = key
    return key


def set_up_shared_logic(config: JobConfig, logic: JobLogic) -> None:
    """Sets `logic` up now, once, for this process's `shared=True` steps to use: a
    streaming job loads its models before its first message, not on it."""
    key = shared_key(logic)
    with _SHARED_LOCK:
        if key not in _SHARED:
            logic.setup(config)
            _SHARED[key] = logic


def release_shared_logic() -> None:
    """Tears down every logic set up with `shared=True` in this process."""
    with _SHARED_LOCK:
        logics = list(_SHARED.values())
        _SHARED.clear()
    for logic in logics:
        logic.teardown()


class _Call:
    """One call of the logic: here, or on its own daemon thread when it has a timeout."""

    def __init__(self, fn, ctx):
        self.result, self.error = None, None
        self._fn, self._ctx = fn, ctx

    def run(self):
        try:
            self.result = self._fn(self._ctx)
        except BaseException as err:  # handed to the caller, which decides
            self.error = err

    def _run_on_thread(self):
        try:
            self.run()
        finally:
            release_gcs_client()  # for the next call's thread

    def run_within(self, timeout: float) -> bool:
        """Runs on a daemon thread; False if it has not returned after `timeout` s."""
        thread = threading.Thread(target=self._run_on_thread, daemon=True, name="cadenza-logic")
        thread.start()
        thread.join(timeout)
        return not thread.is_alive()


class _RunLogicFn(beam.DoFn):
    def __init__(self, config: JobConfig, logic: JobLogic, shared: bool = False):
        self._config, self._logic, self._shared = config, logic, shared
        self.job = config.job_name
        self._key = shared_key(logic)  # the same in every deserialized copy
        self._metrics = JobMetrics(self.job)  # holds no state: one for every element
        self._logic_ms = self._metrics.distribution("logic_ms")
        self._transient = ALWAYS_TRANSIENT + tuple(logic.transient_errors)

    def setup(self):
        if not self._shared:
            self._logic.setup(self._config)
        else:
            with _SHARED_LOCK:
                if self._key not in _SHARED:
                    self._logic.setup(self._config)
                    _SHARED[self._key] = self._logic
                self._logic = _SHARED[self._key]
        self._transient = ALWAYS_TRANSIENT + tuple(self._logic.transient_errors)

    def teardown(self):
        if not self._shared:
            self._logic.teardown()

    def _context(self, message) -> ElementContext:
        config = self._config
        extra = {"job": config.job_name, "element": message.element, "trace_id": message.trace_id}
        return ElementContext(
            element=message.element,
            payload=message.payload,
            message=message,
            inputs=resolve_inputs(config.data.inputs, message.element),
            outputs=resolve_outputs(config.data.outputs, message.element),
            params=config.params,
            log=ElementLogger(LOGGER, extra),
            metrics=self._metrics,
            config=config,
        )

    def _call_once(self, ctx: ElementContext):
        timeout = self._config.execution.timeout_s
        if timeout is None:  # nothing to abandon: no thread to start and join
            call = _Call(self._logic.process, ctx)
            call.run()
        else:  # its metrics wait for this thread: Beam keeps them per thread
            metrics = JobMetrics(self._config.job_name, deferred=True)
            call = _Call(self._logic.process, attrs.evolve(ctx, metrics=metrics))
            if not call.run_within(timeout):  # abandoned: its result is never used
                count(self._config.job_name, "abandoned_logic_calls")
                raise LogicTimeout(f"process() took longer than {timeout} s")
            metrics.apply()
        if isinstance(call.error, Exception):
            raise call.error
        if call.error is not None:  # SystemExit and the like: a failure of this element only
            raise RuntimeError(f"process() raised {type(call.error).__name__}") from call.error
        return call.result

    def process(self, message):
        execution, transient = self._config.execution, self._transient
        ctx = self._context(message)
        started = time.monotonic()
        for attempt in range(execution.retries + 1):
            try:
                result = self._call_once(ctx)
                break
            except LogicTimeout as err:
                yield self._dead(message, str(err), err)
                return
            except transient as err:
                if attempt == execution.retries:
                    reason = (
                        f"transient error, {attempt + 1} attempt(s): {type(err).__name__}: {err}"
                    )
                    yield self._dead(message, reason, err)
                    return
                count(self._config.job_name, "retries")
                time.sleep(execution.retry_backoff_s * 2**attempt)
            except Exception as err:
                yield self._dead(message, f"{type(err).__name__}: {err}", err)
                return
        elapsed_ms = int((time.monotonic() - started) * 1000)
        self._logic_ms.update(elapsed_ms)
        problem = check_result(self._config, result)
        if problem:
            yield self._dead(message, problem)
            return
        digests = {name: h.read_digest for name, h in ctx.inputs.items() if h.read_digest}
        yield Produced(message, result, digests)

    def _dead(self, message, reason, error=None):
        count(self._config.job_name, "dead_letter_logic")
        record = DeadLetter.for_message(self._config.job_name, "logic", message, reason, error)
        return beam.pvalue.TaggedOutput(DEAD_LETTER, record)


class RunLogic(Step):
    """Message -> Produced(message, Result); failures and timeouts are dead-lettered."""

    step_label, stage = "RunLogic", "logic"

    def __init__(self, config: JobConfig, logic: JobLogic, *, shared: bool = False):
        super().__init__()
        if not isinstance(logic, JobLogic):
            raise TypeError(f"RunLogic needs a JobLogic instance, got {type(logic).__name__}")
        self._config, self._logic, self._shared = config, logic, shared
        self.job = config.job_name

    def step_fn(self):
        return _RunLogicFn(self._config, self._logic, self._shared)
