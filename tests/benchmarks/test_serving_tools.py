"""`make bench`'s load generator and report, against a real HTTP server in a thread.

No database: the server is a few lines of http.server, keeping connections alive
with HTTP/1.1 and Content-Length as gunicorn's gthread workers and granian do.
"""

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from benchmarks.serving import load, report
from benchmarks.serving.load import Request, Sample
from benchmarks.serving.report import TIMES

SVG = "{http://www.w3.org/2000/svg}"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen: list[str] = []
        self.eight = threading.Barrier(8, timeout=2)


class Handler(BaseHTTPRequestHandler):
    """/ok answers 200, /fail 500 (its body naming `kind` from the query), /slow after
    20 ms, /eight when 8 requests are in at once, /drop closes the connection after answering
    without saying so (as a server whose keep-alive timeout ran out)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed ACK between

    def do_GET(self):
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
            server.seen.append(self.path)
        try:
            url = urlsplit(self.path)
            status, body = 200, b"fine"
            if url.path == "/fail":
                status, body = 500, f"broken {parse_qs(url.query).get('kind')}".encode()
            elif url.path == "/eight":
                server.eight.wait()
            elif url.path == "/slow":
                time.sleep(0.02)
            elif url.path == "/drop":
                self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with server.lock:
                server.in_flight -= 1

    def log_message(self, format, *args):
        pass  # quiet: pytest shows what the test says


@pytest.fixture
def server():
    running = Server()
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join()


def run(server, requests, **options) -> Sample:
    return load.run("127.0.0.1", server.server_address[1], requests, **options)


def test_count_bounds_the_requests_recorded_and_warmup_is_sent_but_not_recorded(server):
    sample = run(server, Request("GET", "/ok"), concurrency=3, count=40, warmup=7)

    assert len(sample.latencies_ms) == 40 and sample.errors == 0
    assert len(server.seen) == 47
    assert sample.reconnects == 0  # kept alive
    assert sample.wall_seconds > 0 and sample.throughput == 40 / sample.wall_seconds
    assert all(latency > 0 for latency in sample.latencies_ms)


def test_concurrency_eight_has_eight_requests_in_flight_at_once_and_never_more(server):
    # /eight answers only when eight requests wait together (or fails after 2 s).
    sample = run(server, Request("GET", "/eight"), concurrency=8, count=24)

    assert sample.errors == 0, sample.error_examples
    assert len(sample.latencies_ms) == 24
    assert server.most_in_flight == 8


def test_unexpected_statuses_are_errors_with_examples_not_latencies(server):
    kinds = ["a", "b", "c", "d"]

    def requests(number: int) -> Request:
        if number % 2:
            return Request("GET", "/ok")
        return Request("GET", f"/fail?kind={kinds[number // 2 % 4]}")

    sample = run(server, requests, concurrency=1, count=20)

    assert sample.errors == 10 and len(sample.latencies_ms) == 10
    assert sample.throughput == 10 / sample.wall_seconds  # successes only
    # The first three distinct answers, in the order they came.
    assert sample.error_examples == [
        "HTTP 500 to GET /fail?kind=a: broken ['a']",
        "HTTP 500 to GET /fail?kind=b: broken ['b']",
        "HTTP 500 to GET /fail?kind=c: broken ['c']",
    ]
    # An expected status other than 200 is a success.
    expected = run(server, Request("GET", "/fail", expect=500), concurrency=2, count=5)
    assert expected.errors == 0 and len(expected.latencies_ms) == 5


def test_a_refused_connection_is_an_error_with_its_message():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    sample = load.run("127.0.0.1", port, Request("GET", "/ok"), concurrency=2, count=4)

    assert sample.errors == 4 and sample.latencies_ms == []
    assert sample.error_examples[0].startswith("no answer to GET /ok: ConnectionRefusedError")
    assert sample.p50 is None and sample.throughput == 0


def test_a_connection_the_server_closed_is_opened_again_and_counted(server):
    sample = run(server, Request("GET", "/drop"), concurrency=1, count=6)

    assert sample.errors == 0, sample.error_examples
    assert len(sample.latencies_ms) == 6
    assert sample.reconnects == 5


def test_a_callable_receives_each_sequence_number_once(server):
    numbers: list[int] = []

    def requests(number: int) -> Request:
        numbers.append(number)
        return Request("GET", f"/ok?n={number}")

    run(server, requests, concurrency=4, count=30, warmup=5)

    assert sorted(numbers) == list(range(35))
    assert sorted(server.seen) == sorted(f"/ok?n={number}" for number in range(35))


def test_seconds_bounds_the_run(server):
    began = time.perf_counter()
    sample = run(server, Request("GET", "/slow"), concurrency=2, seconds=0.2)
    took = time.perf_counter() - began

    # Loose above: `make test` runs this beside other tests on two cores.
    assert 0.2 <= sample.wall_seconds < 1 and took < 1
    # 20 ms each, two at a time: ten each, and one more each at most begun before the end.
    assert 2 <= len(sample.latencies_ms) <= 22
    assert sample.errors == 0


def test_a_run_needs_count_or_seconds():
    with pytest.raises(ValueError, match="count"):
        load.run("127.0.0.1", 1, Request("GET", "/"), concurrency=1)


def test_percentiles_are_by_nearest_rank():
    sample = Sample(latencies_ms=[float(n) for n in reversed(range(1, 101))])

    assert (sample.p50, sample.p95, sample.p99) == (50, 95, 99)
    assert sample.mean == 50.5
    assert Sample(latencies_ms=[3.0, 1.0, 2.0]).p50 == 2.0
    assert Sample(latencies_ms=[7.0]).p99 == 7.0
    assert Sample(latencies_ms=[]).p50 is None


def test_merge_joins_rounds():
    first = Sample([1.0, 2.0], errors=1, error_examples=["x"], wall_seconds=1.0, concurrency=8)
    second = Sample([3.0], errors=2, error_examples=["x", "y"], wall_seconds=0.5, concurrency=8)

    merged = load.merge([first, second])

    assert merged.latencies_ms == [1.0, 2.0, 3.0]
    assert (merged.errors, merged.error_examples) == (3, ["x", "y"])
    assert (merged.wall_seconds, merged.concurrency) == (1.5, 8)
    assert merged.throughput == 2.0
    with pytest.raises(ValueError, match="concurrency"):
        load.merge([first, Sample([1.0], concurrency=1)])


def results() -> list[report.Result]:
    def sample(*latencies: float, errors: int = 0) -> Sample:
        examples = ["HTTP 500 to GET /x: broken"] if errors else []
        return Sample(list(latencies), errors, examples, wall_seconds=2.0, concurrency=1)

    return [
        report.Result(
            "/sessions/", "day list & <today>", 1, sample(30, 35, 61), sample(4, 5, 6), 10
        ),
        report.Result("/patients/x/", "patient page", 1, sample(195, 292), sample(47, 50), 40),
        report.Result(
            "/api/v1/search/", "API search", 1, sample(7.4, 9.0), sample(2.0, 2.5, errors=1), None
        ),
        report.Result("/sessions/", "day list & <today>", 8, sample(90, 120), sample(9, 11), 10),
    ]


def test_report_writes_json_markdown_and_a_chart(tmp_path):
    machine = {"cores": 2, "python": "3.12.1", "dataset": {"patients": 200_000}}

    written = report.write(results(), machine, tmp_path / "results", "bench")

    assert written == {
        suffix: tmp_path / "results" / f"bench.{suffix}" for suffix in ("json", "md", "svg")
    }
    # JSON: everything, the machine included.
    document = json.loads(written["json"].read_text())
    assert document["machine"] == machine
    day = document["results"][0]
    assert (day["label"], day["concurrency"], day["queries"]) == ("day list & <today>", 1, 10)
    assert (day["fascia"]["p50"], day["fascia"]["p95"], day["fascia"]["n"]) == (35, 61, 3)
    assert day["floor"]["p50"] == 5 and day["ratio_p50"] == 7.0
    assert day["fascia"]["throughput"] == 1.5
    assert document["results"][2]["floor"]["errors"] == 1

    # Markdown: a row per result, with the ratio.
    table = [line for line in written["md"].read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 4  # the head, its rule and the rows
    day_list = "| day list & <today> | 1 | 35 / 61 / 61 | 1.5 | 5.0 / 6.0 | 1.5 |"
    assert table[2] == f"{day_list} 7.0{TIMES} | 10 | 0, 0 |"
    assert "| patient page | 1 | 195 / 292 / 292 |" in table[3] and f"4.1{TIMES}" in table[3]
    assert table[4].endswith(f"| 3.7{TIMES} | — | 0, 1 |")
    markdown = written["md"].read_text()
    assert "Machine: cores: 2; python: 3.12.1; dataset: patients 200000." in markdown
    assert "API search, floor, concurrency 1: `HTTP 500 to GET /x: broken`" in markdown

    # The chart: a standalone SVG, a label and two bars per path measured by one user.
    svg = ET.parse(written["svg"]).getroot()  # noqa: S314 (the file the test just wrote)
    assert svg.tag == f"{SVG}svg" and svg.get("viewBox") == "0 0 800 " + svg.get("height")
    labels = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    assert [label.text for label in labels] == ["day list & <today>", "patient page", "API search"]
    bars = [r for r in svg.iter(f"{SVG}rect") if "bar" in (r.get("class") or "").split()]
    assert len(bars) == 2 * 3
    assert [b.get("class") for b in bars[:2]] == ["bar fascia", "bar floor"]
    # Bars are as long as their p50s.
    widths = [float(b.get("width")) for b in bars]
    assert widths[2] / widths[0] == pytest.approx(195 / 35, rel=0.01)
