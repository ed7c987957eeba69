"""The `airflow-hpt` command line: validate request templates, run the local SageMaker backend."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_hpt.template_params import TemplateParams

ACCESS_KEY_ID_ENV = "AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID"
SECRET_ACCESS_KEY_ENV = "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY"


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _validate(args: argparse.Namespace) -> int:
    from airflow_hpt.exceptions import TemplateError
    from airflow_hpt.request import check_request, load_request_template, refusals, render_request
    from airflow_hpt.template_params import ParamsSourceError, describe_stand_ins, stand_in_context, today

    path = Path(args.file)
    search_path = [str(path.parent), *args.search_path]
    try:
        source = _params_source(args, path)
    except ParamsSourceError as error:
        print(error, file=sys.stderr)
        return 2
    context = stand_in_context(source, args.logical_date or today())
    try:
        template = load_request_template(str(path.resolve()), search_path)
        rendered = render_request(template, context)
        request, problems = check_request(rendered, require_name=not args.allow_missing_name)
    except TemplateError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    refused = refusals(problems, args.validation)
    for problem in problems:
        label = "refused" if problem in refused else "warning"
        print(f"{path}: {label}: {problem}", file=sys.stderr)
    if refused:
        print(f"{path}: {len(refused)} refusal(s)", file=sys.stderr)
        return 1
    if args.show:
        print(describe_stand_ins(context, source), file=sys.stderr)
        print(json.dumps(request, indent=2, sort_keys=True))
    else:
        print(f"{path}: OK")
    if args.show_budget or args.instance_prices:
        return _show_budget(path, request, args.instance_prices)
    return 0


def _params_source(args: argparse.Namespace, template: Path) -> TemplateParams:
    """The DAG's or the file's params, with each --param over them."""
    from airflow_hpt.template_params import TemplateParams, from_dag_file, from_params_file

    if args.dag:
        source = from_dag_file(Path(args.dag), template)
    elif args.params_file:
        source = from_params_file(Path(args.params_file))
    else:
        source = TemplateParams()
    return replace(source, params={**source.params, **dict(args.param)})


def _logical_date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--logical-date expects an ISO date or time, got {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _show_budget(path: Path, request: dict[str, Any], prices_file: str | None) -> int:
    from airflow_hpt.budget import worst_cost, worst_instance_hours
    from airflow_hpt.exceptions import BudgetError

    try:
        print(worst_instance_hours(request))
        if prices_file:
            print(worst_cost(request, json.loads(Path(prices_file).read_text())))
    except (BudgetError, OSError, json.JSONDecodeError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    return 0


def _local_sagemaker(args: argparse.Namespace) -> int:
    from airflow_hpt.local import Faults, Policy, PolicyError, serve

    # a secret nobody chose is generated, never a well-known default: this backend runs code
    secret = args.secret_access_key or secrets.token_urlsafe(32)
    faults = (
        Faults.parse(args.faults, server_error_share=args.server_error_share, seed=args.fault_seed)
        if args.faults
        else None
    )
    try:
        policy = Policy.from_file(args.policy) if args.policy else None
    except PolicyError as error:
        print(f"--policy: {error}", file=sys.stderr)
        return 2
    serve(
        host=args.host,
        port=args.port,
        home=Path(args.home),
        max_concurrent_tuning_jobs=args.max_concurrent_tuning_jobs,
        faults=faults,
        max_parallel_training_jobs=args.max_parallel_training_jobs,
        max_training_instances=args.max_training_instances,
        region=args.region,
        access_key_id=args.access_key_id,
        secret_access_key=secret,
        secret_generated=not args.secret_access_key,
        policy=policy,
        code_roots=[Path(root) for root in args.code_root] if args.code_root else None,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-hpt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="render and validate a request template file")
    validate.add_argument("file", help="a .json, .json.j2, .yaml, .yml or .yaml.j2 request template")
    validate.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="KEY=VALUE",
        help="a DAG param for the template (VALUE is parsed as JSON when it can be)",
    )
    params_from = validate.add_mutually_exclusive_group()
    params_from.add_argument(
        "--dag",
        metavar="FILE",
        help="the DAG file whose task uses the template: its Param defaults are the params (--param overrides)",
    )
    params_from.add_argument(
        "--params-file", metavar="FILE", help="params as a JSON or YAML mapping (--param overrides)"
    )
    validate.add_argument(
        "--logical-date",
        type=_logical_date,
        default=None,
        metavar="DATE",
        help="the run the context stand-ins (ds, ts, logical_date, run_id...) describe; default: today 00:00 UTC",
    )
    validate.add_argument(
        "--search-path", action="append", default=[], help="extra folder to look for templates in"
    )
    validate.add_argument(
        "--allow-missing-name",
        action="store_true",
        help="accept a request without HyperParameterTuningJobName (the operator derives one)",
    )
    validate.add_argument(
        "--validation",
        choices=("strict", "warn"),
        default="strict",
        help="strict (default): exit 1 on refusals, print warnings; warn: print every problem as a "
        "warning and exit 0 (for the day a rule refuses what SageMaker accepts)",
    )
    validate.add_argument(
        "--show",
        action="store_true",
        help="print the rendered, normalized request (and, on stderr, the params' source and context stand-ins)",
    )
    validate.add_argument(
        "--show-budget", action="store_true", help="print the request's worst case in instance-hours"
    )
    validate.add_argument(
        "--instance-prices",
        metavar="FILE",
        help='with --show-budget, also the worst-case cost at these prices (JSON: {"ml.m5.large": 0.115})',
    )
    validate.set_defaults(run=_validate)

    local = commands.add_parser("local-sagemaker", help="serve the local SageMaker tuning backend")
    local.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    local.add_argument("--port", type=int, default=4599, help="port; 0 picks a free one and prints it")
    local.add_argument("--home", default=".local-sagemaker", help="folder holding all state and local S3")
    local.add_argument("--region", default="us-east-1", help="the region in ARNs")
    local.add_argument(
        "--access-key-id",
        default=os.environ.get(ACCESS_KEY_ID_ENV) or "testing",
        help=f"the access key id clients must sign with (default: ${ACCESS_KEY_ID_ENV}, else 'testing')",
    )
    local.add_argument(
        "--secret-access-key",
        default=os.environ.get(SECRET_ACCESS_KEY_ENV),
        help=f"the secret clients must sign with (default: ${SECRET_ACCESS_KEY_ENV}, else a generated "
        "one, printed once with the settings clients need); prefer the variable: arguments are visible "
        "to other users in the process list",
    )
    local.add_argument(
        "--max-concurrent-tuning-jobs", type=int, default=100, help="SageMaker's quota (default 100)"
    )
    local.add_argument(
        "--max-parallel-training-jobs",
        type=int,
        default=10,
        help="quota on a tuning job's MaxParallelTrainingJobs (default 10, SageMaker's)",
    )
    local.add_argument(
        "--max-training-instances",
        type=int,
        default=None,
        help="quota on instances across all training jobs, reserved per tuning job (default: none)",
    )
    local.add_argument(
        "--faults",
        default="",
        metavar="OP=RATE,...",
        help='inject faults for tests, e.g. "DescribeHyperParameterTuningJob=0.3,*=0.05"',
    )
    local.add_argument(
        "--server-error-share", type=float, default=0.0, help="part of the faults answered 5xx, not throttled"
    )
    local.add_argument("--fault-seed", type=int, default=0, help="seed of the fault injection")
    local.add_argument(
        "--policy",
        metavar="FILE",
        help="an IAM policy (JSON): calls it does not allow (SageMaker, its runtime, S3, CloudWatch) are "
        "refused as AWS refuses them (see docs/iam.md; every call is logged in HOME/requests.log, rotated at 5 MiB with 2 backups)",
    )
    local.add_argument(
        "--code-root",
        action="append",
        metavar="DIR",
        help="a folder local code folders (sagemaker_submit_directory file://...) may lie in; repeat for "
        "more (default: HOME, the current folder and the folders of AIRFLOW_HPT_LOCAL_CODE_ROOTS)",
    )
    local.set_defaults(run=_local_sagemaker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
