"""`make bench BENCH_ARGS=--explain`: PostgreSQL's plan of every statement of each hot path.

Each path's statements (the ones the floor runs: the person's row-level security scope,
then Fascia's reads) run again under `EXPLAIN (ANALYZE, BUFFERS)` in one transaction
rolled back. The report lists, per path, the statements by time with the pages they
touched, and every sequential scan of a table of more than LARGE rows: on a hot path
there should be none (issue 16).
"""

import json

from django.db import connection, transaction

LARGE = 10_000
"""Rows above which a table's sequential scan on a hot path is a finding."""
SHOWN = 5
"""Statements listed per path, slowest first."""


def plans(statements: list[str]) -> list[dict]:
    """The plan of each read after the first statement (the scope, which is run as it is).
    A write behind pghistory's context (`SELECT set_config(...); INSERT ...`) is left out."""
    scope, *reads = statements
    reads = [sql for sql in reads if ";" not in sql.strip().rstrip(";")]
    found = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(scope)
        for sql in reads:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            [plan] = cursor.fetchone()[0]
            found.append({"sql": sql, "plan": plan})
        transaction.set_rollback(True)
    return found


def nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def table_rows() -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relnamespace = 'public'::regnamespace"
        )
        return dict(cursor.fetchall())


def report(queries: dict) -> str:
    """Markdown: per path, its slowest statements and any large sequential scan."""
    sizes = table_rows()
    lines = ["# Plans of the hot paths", ""]
    for name, found in queries.items():
        explained = plans(found.floor)
        total = sum(item["plan"]["Execution Time"] for item in explained)
        lines += [f"## {name}: {len(explained)} reads, {total:.1f} ms in PostgreSQL", ""]
        scans = [
            (node["Relation Name"], sizes.get(node["Relation Name"], 0))
            for item in explained
            for node in nodes(item["plan"]["Plan"])
            if node["Node Type"] == "Seq Scan" and sizes.get(node.get("Relation Name"), 0) > LARGE
        ]
        for relation, rows in scans:
            lines.append(f"- **sequential scan** of {relation} ({rows:,.0f} rows)")
        slowest = sorted(explained, key=lambda item: -item["plan"]["Execution Time"])[:SHOWN]
        for item in slowest:
            top = item["plan"]["Plan"]
            lines.append(
                f"- {item['plan']['Execution Time']:.2f} ms, {_buffers(top)} pages: "
                f"{' '.join(item['sql'].split())[:160]}"
            )
        lines.append("")
    return "\n".join(lines)


def _buffers(node: dict) -> int:
    return node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)


def dump(queries: dict) -> str:
    """Every plan, as JSON, for reading one in full."""
    return json.dumps({name: plans(found.floor) for name, found in queries.items()}, indent=1)
