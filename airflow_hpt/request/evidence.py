"""Every rule of the validator, its severity and the evidence for it: one registry.

A rule is a **refusal** only when a source shows that SageMaker refuses too: the API reference's own
words ("must", "can't exceed", "generates a validation error"), or an error message SageMaker
answered, quoted in a public issue. Anything else is a **warning**: logged and printed, never failing,
because a refusal SageMaker would not make blocks a valid DAG. docs/request.md's table is checked
against this registry by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_hpt.exceptions import Problem, Severity

_API = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_"
_NO_EVIDENCE = "no source found that shows SageMaker refusing it"
_ACCEPTED = (
    "accepted by SageMaker in hashicorp/terraform-provider-aws acceptance tests "
    "(internal/service/sagemaker/hyper_parameter_tuning_job_test.go, tests/corpus/accepted/terraform-*)"
)


@dataclass(frozen=True)
class Rule:
    """A rule: what it checks, how sure we are that SageMaker refuses it, and why."""

    id: str
    checks: str
    severity: Severity
    source: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "service-model",
            "required members, types, min/max, lengths, enums, patterns, unknown members",
            "refusal",
            "botocore's sagemaker service model (SageMaker's own API contract)",
        ),
        Rule(
            "one-definition-kind",
            "exactly one of TrainingJobDefinition / TrainingJobDefinitions",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule("definition-name-unique", "DefinitionName unique across definitions", "warning", _NO_EVIDENCE),
        Rule(
            "strategy-config-hyperband-only",
            "StrategyConfig only with the Hyperband strategy",
            "warning",
            f"API reference says 'should be provided only if Hyperband'; {_ACCEPTED} (with Bayesian)",
        ),
        Rule(
            "hyperband-early-stopping-off",
            "Hyperband needs TrainingJobEarlyStoppingType Off",
            "refusal",
            f"{_API}HyperParameterTuningJobConfig.html: 'TrainingJobEarlyStoppingType must be OFF to use "
            "Hyperband'",
        ),
        Rule(
            "hyperband-max-resource-limit",
            "HyperbandStrategyConfig.MaxResource at most 20000",
            "refusal",
            f"{_API}HyperbandStrategyConfig.html: 'The maximum value is 20,000 epochs'",
        ),
        Rule(
            "hyperband-min-below-max",
            "HyperbandStrategyConfig.MinResource at most MaxResource",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule(
            "hyperband-max-resource-inferable",
            "Hyperband without MaxResource needs an epochs static hyperparameter (1 to 20000)",
            "refusal",
            f"{_API}HyperbandStrategyConfig.html: 'If HyperbandStrategyConfig is unable to infer a value "
            "for MaxResource, it generates a validation error'; SageMaker's answer quoted in "
            "https://github.com/awslabs/graphstorm/issues/1243",
        ),
        Rule("grid-categorical-only", "Grid takes categorical ranges only", "warning", _NO_EVIDENCE),
        Rule(
            "grid-max-jobs-combinations",
            "with Grid, MaxNumberOfTrainingJobs not below the number of combinations",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule(
            "enough-combinations",
            "categorical-only ranges give at least MaxNumberOfTrainingJobs combinations",
            "refusal",
            "SageMaker's answer 'The total number of hyperparameter combinations for the provided ranges "
            "[3.0] must be equal or greater than the value of MaxNumberOfJobs, [10]' quoted in "
            "https://github.com/aws/amazon-sagemaker-operator-for-k8s/issues/123",
        ),
        Rule(
            "parallel-within-max-jobs",
            "MaxParallelTrainingJobs at most MaxNumberOfTrainingJobs",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule(
            "max-jobs-given",
            "MaxNumberOfTrainingJobs given (except Grid and Autotune)",
            "warning",
            f"{_ACCEPTED} (Bayesian without it)",
        ),
        Rule(
            "objective-given",
            "an objective for every definition (TuningObjective or HyperParameterTuningJobObjective)",
            "warning",
            f"{_NO_EVIDENCE}; {_ACCEPTED} (with Autotune, without one)",
        ),
        Rule(
            "ranges-given",
            "a range to search for every definition (not checked with Autotune, which chooses them)",
            "warning",
            f"{_NO_EVIDENCE}; {_ACCEPTED} (with Autotune, without any)",
        ),
        Rule(
            "auto-parameters-with-autotune",
            "AutoParameters only with Autotune",
            "warning",
            f"{_ACCEPTED} (AutoParameters without Autotune)",
        ),
        Rule(
            "one-resource-config",
            "exactly one of ResourceConfig / HyperParameterTuningResourceConfig",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule(
            "instance-configs-alone",
            "InstanceConfigs or InstanceType (with InstanceCount, VolumeSizeInGB), not both",
            "warning",
            f"{_API}HyperParameterTuningResourceConfig.html says 'do not provide' them together, "
            "not that SageMaker refuses",
        ),
        Rule("spot-needs-max-wait", "managed spot needs MaxWaitTimeInSeconds", "warning", _NO_EVIDENCE),
        Rule(
            "max-wait-needs-spot",
            "MaxWaitTimeInSeconds only with EnableManagedSpotTraining",
            "refusal",
            "SageMaker's answer to CreateHyperParameterTuningJob 'Invalid MaxWaitTimeInSeconds. It is only "
            "supported when EnableManagedSpotTraining is set to true' quoted in "
            "https://github.com/aws/amazon-sagemaker-examples/issues/869",
        ),
        Rule(
            "max-wait-covers-runtime",
            "MaxWaitTimeInSeconds at least MaxRuntimeInSeconds",
            "refusal",
            f"{_API}StoppingCondition.html: 'It must be equal to or greater than MaxRuntimeInSeconds'",
        ),
        Rule(
            "image-or-algorithm-name",
            "exactly one of TrainingImage / AlgorithmName",
            "refusal",
            f"{_API}AlgorithmSpecification.html: 'You must specify either the algorithm name to the "
            "AlgorithmName parameter or the image URI of the algorithm container to the TrainingImage "
            "parameter'",
        ),
        Rule(
            "objective-in-metric-definitions",
            "with a TrainingImage that declares MetricDefinitions, the objective metric is one of them",
            "refusal",
            "SageMaker's answer 'A metric is required for this hyperparameter tuning job objective. Provide "
            "a metric in the metric definitions.' quoted in "
            "https://github.com/aws/amazon-sagemaker-examples/issues/1207 and "
            "https://github.com/aws/sagemaker-python-sdk/issues/3932",
        ),
        Rule("channel-name-unique", "ChannelName unique within InputDataConfig", "warning", _NO_EVIDENCE),
        Rule(
            "submit-directory-on-s3",
            "on AWS, sagemaker_submit_directory is an s3:// URI",
            "warning",
            "SageMaker accepts the Create; every training job then fails fetching its code",
        ),
        Rule(
            "range-count-limit",
            "at most 30 ranges in total per ParameterRanges",
            "refusal",
            f"{_API}ParameterRanges.html: 'the sum of the number of hyperparameters for all the ranges "
            "can't exceed the maximum number specified'",
        ),
        Rule("range-name-unique", "range names unique across the three kinds", "warning", _NO_EVIDENCE),
        Rule(
            "range-not-static",
            "a tuned name is not also a static hyperparameter",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule("categorical-values-unique", "categorical values without duplicates", "warning", _NO_EVIDENCE),
        Rule(
            "range-bounds-numeric",
            "integer bounds parse as integers, continuous ones as decimals",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule("range-min-below-max", "MinValue < MaxValue", "warning", _NO_EVIDENCE),
        Rule(
            "logarithmic-positive",
            "Logarithmic scaling needs MinValue > 0",
            "warning",
            f"{_API}ContinuousParameterRange.html says it 'works only' for values greater than 0, not "
            "that SageMaker refuses",
        ),
        Rule(
            "reverse-logarithmic-continuous",
            "ReverseLogarithmic only for continuous ranges within 0 <= x < 1",
            "warning",
            f"{_API}ContinuousParameterRange.html says it 'works only' within 0<=x<1.0, not that "
            "SageMaker refuses",
        ),
        Rule("warm-start-parent-named", "each warm start parent has a name", "warning", _NO_EVIDENCE),
        Rule(
            "warm-start-parent-unique",
            "no warm start parent twice, nor the new job itself",
            "warning",
            _NO_EVIDENCE,
        ),
        Rule("tag-key-unique", "tag keys unique", "warning", _NO_EVIDENCE),
        Rule("tag-key-not-aws", "tag keys do not start with aws:", "warning", _NO_EVIDENCE),
    )
}


def problem(rule_id: str, path: str, text: str) -> Problem:
    """A problem of the registered rule ``rule_id``, with that rule's severity."""
    return Problem(path, text, RULES[rule_id].severity, rule_id)
