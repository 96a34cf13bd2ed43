"""A bounded, closed-loop HTTP load generator.

`concurrency` clients, each a thread with a keep-alive connection of its own, each
sending its next request only when its last one has been answered: the server never
has more than `concurrency` requests at once, so the latencies are the server's and
not a queue of the generator's making. The run ends after `count` answers in all, or
after `seconds`, whichever comes first.

A latency is measured from sending the request to the last byte of the answer's
body, and includes opening a connection when one had to be opened (a server that
closes every connection, as gunicorn's sync workers do, pays for it on every
request; `reconnects` says how often that happened).
"""

import http.client
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TIMEOUT = 60.0  # seconds a request may take before it counts as an error
EXAMPLES = 3  # distinct errors kept to show in the report
EXAMPLE_BYTES = 300

# A keep-alive connection the server closed while idle fails on its next use with
# one of these; the request is sent again once on a fresh connection.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect: int = 200  # any other status is an error


def percentile(ordered: list[float], p: float) -> float | None:
    """The nearest-rank percentile of a sorted list: the smallest value with at least
    p% of the values at or below it (no interpolation: always a measured value)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Sample:
    """What one run measured. Latencies are of successful requests only."""

    latencies_ms: list[float]
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    concurrency: int = 1
    reconnects: int = 0

    def _percentile(self, p: float) -> float | None:
        return percentile(sorted(self.latencies_ms), p)

    @property
    def p50(self) -> float | None:
        return self._percentile(50)

    @property
    def p95(self) -> float | None:
        return self._percentile(95)

    @property
    def p99(self) -> float | None:
        return self._percentile(99)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else None

    @property
    def throughput(self) -> float:
        """Successful requests a second of wall time."""
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict:
        """JSON-ready: the latencies summarised (ms, to the microsecond), not listed."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        ordered = sorted(self.latencies_ms)
        return {
            "n": len(ordered),
            "p50": ms(percentile(ordered, 50)),
            "p95": ms(percentile(ordered, 95)),
            "p99": ms(percentile(ordered, 99)),
            "mean": ms(self.mean),
            "min": ms(ordered[0] if ordered else None),
            "max": ms(ordered[-1] if ordered else None),
            "throughput": round(self.throughput, 2),
            "errors": self.errors,
            "error_examples": list(self.error_examples),
            "wall_seconds": round(self.wall_seconds, 3),
            "concurrency": self.concurrency,
            "reconnects": self.reconnects,
        }


def merge(samples: list[Sample]) -> Sample:
    """One sample of interleaved rounds of the same path and target."""
    if not samples:
        raise ValueError("merge needs at least one sample")
    if len({sample.concurrency for sample in samples}) > 1:
        raise ValueError("merge needs samples of the same concurrency")
    examples = list(dict.fromkeys(e for sample in samples for e in sample.error_examples))
    return Sample(
        latencies_ms=[ms for sample in samples for ms in sample.latencies_ms],
        errors=sum(sample.errors for sample in samples),
        error_examples=examples[:EXAMPLES],
        wall_seconds=sum(sample.wall_seconds for sample in samples),
        concurrency=samples[0].concurrency,
        reconnects=sum(sample.reconnects for sample in samples),
    )


class _Run:
    """What the clients share: the next sequence number, the clock and the errors."""

    def __init__(self, count: int | None, seconds: float | None, warmup: int):
        self.count, self.seconds, self.warmup = count, seconds, warmup
        self.lock = threading.Lock()
        self.next = 0
        self.started: float | None = None  # when the first measured request was handed out
        self.deadline = math.inf
        self.errors = 0
        self.seen: set[tuple] = set()
        self.examples: list[str] = []
        self.reconnects = 0
        self.failure: Exception | None = None

    def take(self) -> int | None:
        """The next request's sequence number, or None when the run is over."""
        with self.lock:
            if self.failure is not None:
                return None
            number = self.next
            if self.count is not None and number >= self.warmup + self.count:
                return None
            if number == self.warmup:  # the measured part starts: so does its clock
                self.started = time.perf_counter()
                if self.seconds is not None:
                    self.deadline = self.started + self.seconds
            if time.perf_counter() >= self.deadline:
                return None
            self.next += 1
            return number

    def error(self, key: tuple, example: str) -> None:
        with self.lock:
            self.errors += 1
            if key not in self.seen and len(self.examples) < EXAMPLES:
                self.seen.add(key)
                self.examples.append(example)


class _Connection(http.client.HTTPConnection):
    """Counts the connections it opens: every one after the first is a reconnect
    (http.client opens a new one by itself when the server closed the last)."""

    opened = 0

    def connect(self):
        self.opened += 1
        super().connect()


def _exchange(connection: _Connection, request: Request) -> tuple[int, bytes, int]:
    """Send one request and read its whole answer: status, body and nanoseconds taken."""
    begun = time.perf_counter_ns()
    connection.request(request.method, request.path, request.body, request.headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, body, time.perf_counter_ns() - begun


def _client(host: str, port: int, requests: Callable[[int], Request], shared: _Run, out: list):
    connection = _Connection(host, port, timeout=TIMEOUT)
    try:
        while (number := shared.take()) is not None:
            request = requests(number)
            reused = connection.sock is not None
            try:
                try:
                    status, body, took = _exchange(connection, request)
                except STALE:
                    if not reused:
                        raise
                    # The server closed it while idle, before reading this request:
                    # send it again on a fresh connection.
                    connection.close()
                    status, body, took = _exchange(connection, request)
            except (OSError, http.client.HTTPException) as error:
                connection.close()  # in an unknown state: the next request opens another
                status, body = None, f"{type(error).__name__}: {error}".encode()
            if number < shared.warmup:
                continue
            if status == request.expect:
                out.append(took / 1e6)
            else:
                excerpt = body[:EXAMPLE_BYTES]
                what = f"HTTP {status}" if status is not None else "no answer"
                shown = excerpt.decode("utf-8", "replace")
                shared.error(
                    (status, excerpt), f"{what} to {request.method} {request.path}: {shown}"
                )
    except Exception as error:  # the caller's `requests` raised, say: stop all, re-raise in run()
        with shared.lock:
            shared.failure = shared.failure or error
    finally:
        connection.close()
        with shared.lock:
            shared.reconnects += max(0, connection.opened - 1)


def run(
    host: str,
    port: int,
    requests: Callable[[int], Request] | Request,
    *,
    concurrency: int,
    count: int | None = None,
    seconds: float | None = None,
    warmup: int = 0,
) -> Sample:
    """Send requests with `concurrency` clients until `count` have been answered after the
    `warmup` (which are sent but not recorded, errors included), or for `seconds` after it.

    `requests` is one Request, or a function of the request's sequence number (0, 1, ...
    over the whole run, warm-up included, each number used once) returning it.
    """
    if count is None and seconds is None:
        raise ValueError("run needs `count` or `seconds` (or both) to know when to stop")
    if concurrency < 1:
        raise ValueError("`concurrency` must be at least 1")
    make = requests if callable(requests) else (lambda number: requests)
    shared = _Run(count, seconds, warmup)
    outs: list[list[float]] = [[] for _ in range(concurrency)]
    clients = [
        threading.Thread(target=_client, args=(host, port, make, shared, out), daemon=True)
        for out in outs
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    ended = time.perf_counter()
    if shared.failure is not None:
        raise shared.failure
    return Sample(
        latencies_ms=[ms for out in outs for ms in out],
        errors=shared.errors,
        error_examples=shared.examples,
        wall_seconds=ended - shared.started if shared.started is not None else 0.0,
        concurrency=concurrency,
        reconnects=shared.reconnects,
    )
