"""The soak standalone: real Airflow processes (api-server, scheduler, dag-processor, triggerer;
LocalExecutor, SQLite) run 40 tuning tasks against the local backend while faults are injected, and
the figures are printed as a table (see docs/soak.md; tests/soak/test_soak.py asserts them).

    .venv/bin/python benchmarks/soak.py                    # all faults
    .venv/bin/python benchmarks/soak.py --no-faults        # the same run without any fault
    .venv/bin/python benchmarks/soak.py --keep DIR         # keep the homes and logs in DIR
    .venv/bin/python benchmarks/soak.py --stack production --seed N
        # on Postgres, Redis, the CeleryExecutor and two triggerers (scripts/stack), with the
        # production faults too: a triggerer, a Celery worker and the scheduler killed (docs/deploying.md)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.soak.production import run_production_soak
from tests.soak.soak import SoakConfig, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-faults", action="store_true", help="no fault of any kind")
    parser.add_argument("--throttle-rate", type=float, default=0.3, help="of Describe*/List* calls")
    parser.add_argument("--server-error-rate", type=float, default=0.1, help="of Describe*/List* calls")
    parser.add_argument(
        "--drop-rate", type=float, default=0.03, help="of connections, closed before the answer"
    )
    parser.add_argument("--triggerer-kills", type=int, default=2)
    parser.add_argument("--backend-restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1, help="the backend's fault seed")
    parser.add_argument("--budget", type=float, default=600, help="seconds before giving up")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--stack",
        choices=("local", "production"),
        default="local",
        help="local: SQLite, LocalExecutor, one triggerer; production: scripts/stack's",
    )
    args = parser.parse_args()
    config = SoakConfig(
        throttle_rate=0.0 if args.no_faults else args.throttle_rate,
        server_error_rate=0.0 if args.no_faults else args.server_error_rate,
        drop_rate=0.0 if args.no_faults else args.drop_rate,
        fault_seed=args.seed,
        triggerer_kills=0 if args.no_faults else args.triggerer_kills,
        backend_restarts=0 if args.no_faults else args.backend_restarts,
        crash_after_create=not args.no_faults,
        budget_seconds=args.budget,
    )
    run = run_production_soak if args.stack == "production" else run_soak
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        figures = run(args.keep, config)
    else:
        with tempfile.TemporaryDirectory(prefix="airflow-hpt-soak-") as workdir:
            figures = run(Path(workdir), config)
    print(f"fault seed {args.seed}, stack {args.stack}")
    print(figures.table())
    return 0 if figures.clean() else 1


if __name__ == "__main__":
    sys.exit(main())
