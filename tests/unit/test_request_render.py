"""Loading and rendering request templates: files, strict undefined, syntax errors, environments."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox
import pytest

from airflow_hpt.exceptions import TemplateError
from airflow_hpt.request import (
    is_request_file,
    load_request_template,
    make_jinja_environment,
    render_request,
)

CONTEXT: dict[str, Any] = {
    "ds": "2024-01-01",
    "ds_nodash": "20240101",
    "params": {"epochs": 20, "eta_max": 0.5, "bucket": "my-bucket", "parent": "xgb-2023-12-25"},
}

JSON_TEMPLATE = """{
  "HyperParameterTuningJobName": "xgb-{{ ds_nodash }}",
  "TrainingJobDefinition": {
    "StaticHyperParameters": {"epochs": "{{ params.epochs }}"},
    "OutputDataConfig": {"S3OutputPath": "s3://{{ params.bucket }}/out/{{ ds }}/"}
  },
  "HyperParameterTuningJobConfig": {"ResourceLimits": {"MaxParallelTrainingJobs": 2}}
}
"""

YAML_TEMPLATE = """\
HyperParameterTuningJobName: "xgb-{{ ds_nodash }}"
HyperParameterTuningJobConfig:
  Strategy: Bayesian
  TrainingJobEarlyStoppingType: Off
  ResourceLimits:
    MaxParallelTrainingJobs: 2
  ParameterRanges:
    ContinuousParameterRanges:
      - Name: eta
        MinValue: 0.01
        MaxValue: "{{ params.eta_max }}"
TrainingJobDefinition:
  StaticHyperParameters:
    epochs: "{{ params.epochs }}"
    early_stopping: yes
    verbose: true
    seed: 012
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("request.json", True),
        ("request.json.j2", True),
        ("dags/request.yaml", True),
        ("request.yml", True),
        ("request.yaml.j2", True),
        ("request.txt", False),
        ("request.yml.j2", False),
        ({"HyperParameterTuningJobName": "x"}, False),
        (None, False),
    ],
)
def test_is_request_file(value: object, expected: bool) -> None:
    assert is_request_file(value) is expected


@pytest.mark.parametrize("suffix", [".json", ".json.j2"])
def test_json_file_rendered(tmp_path: Path, suffix: str) -> None:
    (tmp_path / f"request{suffix}").write_text(JSON_TEMPLATE)
    template = load_request_template(f"request{suffix}", [tmp_path])
    # parsed before rendering: the leaves are still templates
    assert template["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] == "{{ params.epochs }}"
    rendered = render_request(template, CONTEXT)
    assert rendered["HyperParameterTuningJobName"] == "xgb-20240101"
    assert rendered["TrainingJobDefinition"] == {
        "StaticHyperParameters": {"epochs": "20"},
        "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/out/2024-01-01/"},
    }
    assert rendered["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] == 2


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".yaml.j2"])
def test_yaml_file_rendered_with_yaml_1_2_scalars(tmp_path: Path, suffix: str) -> None:
    (tmp_path / f"request{suffix}").write_text(YAML_TEMPLATE)
    rendered = render_request(load_request_template(f"request{suffix}", [str(tmp_path)]), CONTEXT)
    config = rendered["HyperParameterTuningJobConfig"]
    # YAML 1.1 would have turned Off into False, yes into True and 012 into 10
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["ParameterRanges"]["ContinuousParameterRanges"][0] == {
        "Name": "eta",
        "MinValue": 0.01,
        "MaxValue": "0.5",
    }
    assert rendered["TrainingJobDefinition"]["StaticHyperParameters"] == {
        "epochs": "20",
        "early_stopping": "yes",
        "verbose": True,
        "seed": "012",
    }


def test_search_path_order_and_absolute_path(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "r.json").write_text('{"from": "second"}')
    assert load_request_template("r.json", [first, second]) == {"from": "second"}
    (first / "r.json").write_text('{"from": "first"}')
    assert load_request_template("r.json", [first, second]) == {"from": "first"}
    assert load_request_template(str(second / "r.json"), []) == {"from": "second"}


def test_missing_file_names_the_search_path(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"'nope\.yaml' not found .*searched: " + str(tmp_path)):
        load_request_template("nope.yaml", [tmp_path])


def test_unquoted_jinja_in_json_gives_line_column_and_hint(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{\n  "A": 1,\n  "Epochs": {{ params.epochs }}\n}\n')
    with pytest.raises(TemplateError) as info:
        load_request_template("bad.json", [tmp_path])
    message = str(info.value)
    assert f"{tmp_path / 'bad.json'}:3:14: invalid JSON" in message
    assert "must sit inside quoted strings" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("A: 1\nEpochs: {{ params.epochs }}\n", 2),
        ("A: 1\nB:\n  - 1\n{% if x %}\n", 4),
        ("A: [1, 2\n", 2),
    ],
)
def test_yaml_syntax_error_gives_line_and_hint(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(TemplateError) as info:
        load_request_template("bad.yaml", [tmp_path])
    message = str(info.value)
    assert f"{tmp_path / 'bad.yaml'}:{line}:" in message
    assert "invalid YAML" in message
    assert "must sit inside quoted strings" in message


def test_template_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(TemplateError, match="must hold an object, not list"):
        load_request_template("list.yaml", [tmp_path])


def test_keys_are_not_rendered_and_non_strings_are_kept() -> None:
    template = {"{{ params.bucket }}": ["{{ ds }}", 3, 0.5, True, None, {"k": "{{ params.epochs }}"}]}
    assert render_request(template, CONTEXT) == {
        "{{ params.bucket }}": ["2024-01-01", 3, 0.5, True, None, {"k": "20"}]
    }


def test_literal_leaves_are_unchanged() -> None:
    template = {"A": "line one\nline two\n", "B": "no templates here", "C": ""}
    assert render_request(template, CONTEXT) == template


def test_undefined_variables_name_variable_and_path() -> None:
    template = {
        "TrainingJobDefinition": {"StaticHyperParameters": {"epochs": "{{ params.epoch }}"}},
        "Tags": [{"Key": "run", "Value": "{{ run_label }}"}],
    }
    with pytest.raises(TemplateError) as info:
        render_request(template, CONTEXT)
    message = str(info.value)
    assert "TrainingJobDefinition.StaticHyperParameters.epochs: undefined variable" in message
    assert "has no attribute 'epoch'" in message
    assert "Tags[0].Value: undefined variable: 'run_label' is undefined" in message


def test_jinja_syntax_error_gives_path_and_template_line() -> None:
    template = {"A": {"B": "first line\n{{ params.epochs }\nthird"}}
    with pytest.raises(TemplateError) as info:
        render_request(template, CONTEXT)
    message = str(info.value)
    assert "A.B: Jinja syntax error" in message
    assert "template line 2: '{{ params.epochs }'" in message


def test_map_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    with pytest.raises(TemplateError, match=r'StaticHyperParameters\["a b"\]: undefined variable'):
        render_request({"StaticHyperParameters": {"a b": "{{ nope }}"}}, CONTEXT)


def test_sandbox_blocks_unsafe_attributes() -> None:
    with pytest.raises(TemplateError, match="A: cannot render template"):
        render_request({"A": "{{ ''.__class__.__mro__ }}"}, CONTEXT)


def test_default_environment_is_sandboxed_and_strict() -> None:
    env = make_jinja_environment()
    assert isinstance(env, jinja2.sandbox.SandboxedEnvironment)
    assert env.undefined is jinja2.StrictUndefined


def test_sandboxed_base_is_overlaid_with_its_filters() -> None:
    base = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.Undefined)
    base.filters["shout"] = lambda value: str(value).upper()
    env = make_jinja_environment(base)
    assert isinstance(env, jinja2.sandbox.SandboxedEnvironment)
    assert env.undefined is jinja2.StrictUndefined
    assert render_request({"A": "{{ params.bucket | shout }}"}, CONTEXT, env) == {"A": "MY-BUCKET"}
    with pytest.raises(TemplateError, match="undefined"):
        render_request({"A": "{{ missing }}"}, CONTEXT, env)


def test_native_base_renders_plain_strings_with_its_filters_and_globals() -> None:
    base = jinja2.nativetypes.NativeEnvironment(
        loader=jinja2.DictLoader({"m.j2": "{% macro x() %}X{% endmacro %}"})
    )
    base.filters["shout"] = lambda value: str(value).upper()
    base.globals["region"] = "eu-west-1"
    env = make_jinja_environment(base)
    assert isinstance(env, jinja2.sandbox.SandboxedEnvironment)
    assert not isinstance(env, jinja2.nativetypes.NativeEnvironment)
    context = {"params": {"n": "42", "d": "{'a': [1, 2]}", "l": "[1, 2]"}}
    template = {
        "N": "{{ params.n }}",
        "D": "{{ params.d }}",
        "L": "{{ params.l }}",
        "F": "{{ 'a' | shout }}-{{ region }}",
        "M": "{% from 'm.j2' import x %}{{ x() }}",
    }
    assert render_request(template, context, env) == {
        "N": "42",
        "D": "{'a': [1, 2]}",
        "L": "[1, 2]",
        "F": "A-eu-west-1",
        "M": "X",
    }


def test_airflow_native_environment_still_renders_strings() -> None:
    # Airflow builds its Jinja environment here; if it moves, this must fail, not skip
    from airflow.sdk.definitions._internal import templater

    base = templater.create_template_env(native=True, user_defined_macros={"team": "ds"})
    env = make_jinja_environment(base)
    rendered = render_request(
        {"A": "{{ params.n }}", "B": "{{ ts | ds_nodash }}-{{ team }}"}, _airflow_ctx(), env
    )
    assert rendered == {"A": "7", "B": "20240101-ds"}


def _airflow_ctx() -> dict[str, Any]:
    import datetime

    return {"params": {"n": 7}, "ts": datetime.datetime(2024, 1, 1, 12, 0)}


def test_render_output_round_trips_through_json() -> None:
    rendered = render_request(json.loads(JSON_TEMPLATE), CONTEXT)
    assert json.loads(json.dumps(rendered)) == rendered


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("dup.json", '{"A": 1,\n "A": 2}', "invalid JSON: duplicate key 'A'"),
        ("dup.yaml", "A: 1\nB:\n  C: 1\n  C: 2\n", "dup.yaml:4:3: duplicate key 'C'"),
    ],
)
def test_duplicate_keys_are_rejected(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(TemplateError, match=re.escape(fragment)):
        load_request_template(name, [tmp_path])


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "base: &base {InstanceType: ml.m5.xlarge, InstanceCount: 1}\n"
        "ResourceConfig:\n  <<: *base\n  InstanceCount: 2\n"
    )
    loaded = load_request_template("r.yaml", [tmp_path])
    assert loaded["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}


def test_yaml_numbers_nulls_and_special_floats(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "a: 20\nb: -0.5\nc: 1e-3\nd: .inf\ne: ~\nf: null\ng: 1_000\nh: 0x1F\ni: 2024-01-01\n"
    )
    assert load_request_template("r.yaml", [tmp_path]) == {
        "a": 20,
        "b": -0.5,
        "c": 0.001,
        "d": ".inf",
        "e": None,
        "f": None,
        "g": "1_000",
        "h": "0x1F",
        "i": "2024-01-01",
    }


def test_errors_raised_by_filters_carry_the_path() -> None:
    env = jinja2.sandbox.SandboxedEnvironment()
    env.filters["explode"] = lambda value: 1 / 0
    with pytest.raises(TemplateError, match=r"Tags\[0\]\.Value: cannot render template .*ZeroDivisionError"):
        render_request({"Tags": [{"Key": "k", "Value": "{{ ds | explode }}"}]}, CONTEXT, env)


def test_all_leaf_errors_are_reported_together() -> None:
    with pytest.raises(TemplateError) as info:
        render_request({"A": "{{ a }}", "B": ["{% if %}", "{{ b }}"]}, CONTEXT)
    message = str(info.value)
    assert "A: undefined variable" in message
    assert "B[0]: Jinja syntax error" in message
    assert "B[1]: undefined variable" in message


def test_syntax_error_at_end_of_template_is_reported() -> None:
    with pytest.raises(TemplateError, match=r"A: Jinja syntax error: .*template line"):
        render_request({"A": "x\n{% if ds %}\n"}, CONTEXT)


@pytest.mark.parametrize("value", ["'quoted'", "42", "{'a': 1}", "[1, 2]", "None", "1 + 1"])
def test_a_native_environment_passed_directly_still_renders_exact_strings(value: str) -> None:
    env = jinja2.nativetypes.NativeEnvironment()
    assert render_request({"A": "{{ v }}"}, {"v": value}, env) == {"A": value}


def test_the_example_in_the_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "request.md").read_text()
    example = re.search(r"## Example\n.*?```python\n(.*?)```", doc, re.S)
    assert example is not None
    exec(compile(example.group(1), "docs/request.md", "exec"), {})
    out = capsys.readouterr().out
    assert "fingerprint " in out
    assert "Invalid tuning request (2 problem(s))" in out


def test_literal_leaves_keep_their_line_endings() -> None:
    template = {"A": "windows\r\nline", "B": "{{ ds }}"}
    assert render_request(template, CONTEXT) == {"A": "windows\r\nline", "B": "2024-01-01"}


def test_custom_delimiters_of_the_base_environment_are_honoured() -> None:
    base = jinja2.nativetypes.NativeEnvironment(variable_start_string="[[", variable_end_string="]]")
    template = {"A": "[[ ds ]]", "B": "{{ ds }}"}
    assert render_request(template, CONTEXT, make_jinja_environment(base)) == {
        "A": "2024-01-01",
        "B": "{{ ds }}",
    }


def test_airflow_sandboxed_environment_is_overlaid() -> None:
    # Airflow builds its Jinja environment here; if it moves, this must fail, not skip
    from airflow.sdk.definitions._internal import templater

    base = templater.create_template_env(native=False, user_defined_filters={"twice": lambda v: v * 2})
    env = make_jinja_environment(base)
    assert type(env) is type(base)  # Airflow's class and attribute policy are kept
    assert env.undefined is jinja2.StrictUndefined
    rendered = render_request({"A": "{{ params.n | twice }}", "B": "{{ ts | ds }}"}, _airflow_ctx(), env)
    assert rendered == {"A": "14", "B": "2024-01-01"}
