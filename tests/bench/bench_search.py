"""Benchmark of the case search's number and party matching: exact (as before) vs part.

Run (a plain script, not collected by pytest)::

    .venv/bin/python tests/bench/bench_search.py --cases 200000
    .venv/bin/python tests/bench/bench_search.py --database /tmp/view.sqlite3  # reuse
    .venv/bin/python tests/bench/bench_search.py --cases 200000 --postgres

The store is bulk-loaded with the fictional cases of ``bench_view.py`` (document numbers
演罚〔year〕N号 and 演移〔year〕N号, agency numbers AJ-…, a person or 演示第N商贸有限公司
per case). Each kind runs ``--repeat`` times with random parameters through
``search_cases`` (page of 50 and the capped count, as the API calls it). The exact kinds
swap in the matching this search had before (``number = ?``, ``name = ?``), so the page
and count queries are the same and only the matching differs; the report gives each
kind's median and its ratio to the exact search of the same field in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import or_, select, union

from hub.identity import identifier_key
from hub.view import search
from hub.view.keys import name_key
from hub.view.queries import Scope
from hub.view.store import CaseNumberRow, CasePartyRow, Store
from tests.bench.bench_view import AGENCIES, _codes, load, rows_for


def _exact_number(_session: Any, text: str) -> Any:
    """The matching before part searches, as the (whole, part) pair the search takes."""
    if not text.strip():
        return None
    condition = CaseNumberRow.number == text.strip()
    whole = select(CaseNumberRow.case_id).where(condition)
    holds = search._holding(CaseNumberRow.case_id, condition)
    return search._tiers(whole, whole, None, (holds, holds))


def _exact_party(_session: Any, text: str) -> Any:
    """The exact name match of before, on the name's key (the index of names as written,
    which it used, is gone: the same seek on the index that replaced it)."""
    by_name = CasePartyRow.name_key == name_key(text)
    by_identifier = CasePartyRow.identifier == identifier_key(text)
    whole = union(select(CasePartyRow.case_id).where(by_name),
                  select(CasePartyRow.case_id).where(by_identifier)).subquery().select()
    holds = search._holding(CasePartyRow.case_id, or_(by_name, by_identifier))
    return search._tiers(whole, whole, None, (holds, holds))


#: Trigram indexes that do not exist: the search then scans, as it did before them.
_NO_TRIGRAMS = (dataclasses.replace(search.NUMBER_KEYS, sqlite_table="no_such_table"),
                dataclasses.replace(search.PARTY_NAMES, sqlite_table="no_such_table"))


def measure(store: Store, total: int, repeat: int) -> list[tuple[str, str, float, int]]:
    """(kind, baseline kind, median ms, median matches) per kind."""
    rng = random.Random(5)
    sample_rng = random.Random(7)
    samples = [rows_for(i, sample_rng) for i in range(min(total, 5_000))]
    everyone = Scope()

    def case(i: int) -> dict[str, Any]:
        return samples[i]

    def number(i: int) -> str:
        return str(case(i)["numbers"][0]["number"])

    def year_and_serial(i: int) -> tuple[str, str]:
        text = number(i)  # 演罚〔2024〕123号
        return text[3:7], text[8:-1]

    def company(i: int) -> int:
        return i if i % 2 else i + 1  # odd indexes are companies

    # (kind, the kind it is compared with, how it matches: "exact" as before part
    # searches, "scan" as before trigram indexes, "set" as before a common text's newest
    # cases were tested one by one, "" as now)
    kinds: list[tuple[str, str, str, Callable[[int], tuple[dict[str, str], Scope]]]] = [
        ("number, whole (exact, before)", "", "exact",
         lambda i: ({"case_number": number(i)}, everyone)),
        ("number, whole", "number, whole (exact, before)", "",
         lambda i: ({"case_number": number(i)}, everyone)),
        ("number, (2024)123号 half-width", "number, whole (exact, before)", "",
         lambda i: ({"case_number": "({}){}号".format(*year_and_serial(i))}, everyone)),
        ("number, 2024 123号 (scan, before)", "number, whole (exact, before)", "scan",
         lambda i: ({"case_number": "{} {}号".format(*year_and_serial(i))}, everyone)),
        ("number, 2024 123号", "number, whole (exact, before)", "",
         lambda i: ({"case_number": "{} {}号".format(*year_and_serial(i))}, everyone)),
        ("number, 123号 (serial only)", "number, whole (exact, before)", "",
         lambda i: ({"case_number": f"{year_and_serial(i)[1]}号"}, everyone)),
        ("number, 〔2024〕 (a year: thousands), set first (before)",
         "number, whole (exact, before)", "set",
         lambda i: ({"case_number": f"〔{year_and_serial(i)[0]}〕"}, everyone)),
        ("number, 〔2024〕 (a year: thousands)", "number, whole (exact, before)", "",
         lambda i: ({"case_number": f"〔{year_and_serial(i)[0]}〕"}, everyone)),
        ("number, 2024 123号 in a unit's scope", "number, whole (exact, before)", "",
         lambda i: ({"case_number": "{} {}号".format(*year_and_serial(i))},
                    Scope(AGENCIES[i % len(AGENCIES)]))),
        ("number, nothing matches", "number, whole (exact, before)", "",
         lambda i: ({"case_number": f"无此文号{i}"}, everyone)),
        ("party, whole name (exact, before)", "", "exact",
         lambda i: ({"party": str(case(company(i))["parties"][0]["name"])}, everyone)),
        ("party, whole name", "party, whole name (exact, before)", "",
         lambda i: ({"party": str(case(company(i))["parties"][0]["name"])}, everyone)),
        ("party, part: 第123商贸 (scan, before)", "party, whole name (exact, before)", "scan",
         lambda i: ({"party": f"第{company(i)}商贸"}, everyone)),
        ("party, part: 第123商贸", "party, whole name (exact, before)", "",
         lambda i: ({"party": f"第{company(i)}商贸"}, everyone)),
        ("party, part: 商贸有限 (half the parties), set first (before)",
         "party, whole name (exact, before)", "set", lambda i: ({"party": "商贸有限"}, everyone)),
        ("party, part: 商贸有限 (half the parties)", "party, whole name (exact, before)", "",
         lambda i: ({"party": "商贸有限"}, everyone)),
        ("party, credit code / ID (exact, before)", "", "exact",
         lambda i: ({"party": str(case(i)["parties"][0]["identifier"])}, everyone)),
        ("party, credit code / ID", "party, credit code / ID (exact, before)", "",
         lambda i: ({"party": str(case(i)["parties"][0]["identifier"])}, everyone)),
    ]
    results: list[tuple[str, str, float, int]] = []
    by_number, by_party = search._cases_by_number, search._cases_by_party
    trigrams = search.NUMBER_KEYS, search.PARTY_NAMES
    window = search._WINDOW
    with store.session() as session:
        for name, baseline, how, make in kinds:
            search._cases_by_number = _exact_number if how == "exact" else by_number
            search._cases_by_party = _exact_party if how == "exact" else by_party
            search.NUMBER_KEYS, search.PARTY_NAMES = _NO_TRIGRAMS if how == "scan" else trigrams
            # "set": a common text's page walks against its whole set gathered first, as
            # before the newest cases were tested one by one (an empty window)
            search._WINDOW = 0 if how == "set" else window
            timings: list[float] = []
            counts: list[int] = []
            for round_ in range(repeat + 1):
                fields, scope = make(rng.randrange(len(samples)))
                started = time.perf_counter()
                filters = search.CaseFilters(case_number=fields.get("case_number"),
                                             party=fields.get("party"))
                page = search.search_cases(session, filters, scope)
                if round_:  # the first warms the cache and the plan
                    timings.append((time.perf_counter() - started) * 1000)
                    counts.append(page.total)
            results.append((name, baseline, statistics.median(timings),
                            int(statistics.median(counts))))
    search._cases_by_number, search._cases_by_party = by_number, by_party
    search.NUMBER_KEYS, search.PARTY_NAMES = trigrams
    search._WINDOW = window
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", type=Path, default=None,
                        help="SQLite file to reuse (loaded with --cases if it does not exist)")
    parser.add_argument("--postgres", action="store_true",
                        help="measure on a private PostgreSQL cluster, loaded for the run")
    args = parser.parse_args()
    _codes()
    cluster = None
    base = Path(tempfile.mkdtemp(prefix="liangfa-bench-search-"))
    if args.postgres:
        from tests.support.postgres import PostgresCluster, _free_port

        cluster = PostgresCluster(base, _free_port())
        cluster.start()
        url, fresh = cluster.url, True
    else:
        path = args.database or base / "v.db"
        url, fresh = f"sqlite:///{path}", not path.exists()
    try:
        _report(Store(url), args.cases, args.repeat, fresh=fresh,
                backend="PostgreSQL" if args.postgres else "SQLite")
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(base, ignore_errors=True)


def _report(store: Store, cases: int, repeat: int, *, fresh: bool, backend: str) -> None:
    started = time.perf_counter()
    store.create_all()  # on an older store: adds and fills number_key
    prepared = time.perf_counter() - started
    if fresh:
        load(store, cases)
    else:
        print(f"reused the store; create_all (upgrade if older) took {prepared:.1f} s")
    total = cases if fresh else 0
    with store.session() as session:
        total = total or len(session.scalars(select(CaseNumberRow.case_id).where(
            CaseNumberRow.kind == "decision_number")).all())
    rows = measure(store, total, repeat)
    medians = {name: ms for name, _, ms, _ in rows}
    print(f"\n## {backend}, {total:,} cases, median of {repeat} searches per kind\n")
    print("| search | ms | × exact | matches (median) |\n|---|---:|---:|---:|")
    for name, baseline, ms, count in rows:
        ratio = f"{ms / medians[baseline]:.1f}" if baseline else "1"
        print(f"| {name} | {ms:.2f} | {ratio} | {count:,} |")
    store.dispose()


if __name__ == "__main__":
    main()
