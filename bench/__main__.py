"""`make bench`: every benchmark the issues name, one after the other, each printing its figures.

.venv/bin/python -m bench [kb] [intent] [everyday] [ldap] [reset] [delivery] [digest] [slack] [teams]
                          [access] [entra] [incident]
"""

from __future__ import annotations

import importlib
import sys
import time

SUITES = {
    "kb": "bench.kb_bench",
    "intent": "bench.intent_bench",
    "everyday": "bench.everyday_bench",
    "ldap": "bench.ldap_bench",
    "reset": "bench.reset_bench",
    "delivery": "bench.delivery_bench",
    "digest": "bench.digest_bench",
    "slack": "bench.slack_bench",
    "teams": "bench.teams_bench",
    "access": "bench.access_bench",
    "entra": "bench.entra_bench",
    "incident": "bench.incident_bench",
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ({SUITES[name]}) ===", flush=True)
        started = time.perf_counter()
        status = importlib.import_module(SUITES[name]).main([])
        print(f"--- {name} took {time.perf_counter() - started:.1f} s", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
