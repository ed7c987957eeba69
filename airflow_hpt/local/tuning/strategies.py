"""SageMaker tuning strategies on Optuna: which hyperparameters to try next, and when to stop early.

Strategy -> Optuna:

- ``Bayesian``: multivariate ``TPESampler`` (model-based; Optuna's ``GPSampler`` would need
  PyTorch, which is not a dependency of the backend).
- ``Random``: ``RandomSampler``.
- ``Grid``: ``GridSampler`` over every combination of the categorical ranges, each proposed once;
  then :meth:`TuningStrategy.ask` returns None.
- ``Hyperband``: ``TPESampler`` with ``HyperbandPruner`` (``MinResource``/``MaxResource`` of
  ``HyperbandStrategyConfig``; without ``MaxResource`` Optuna infers it from the first finished
  trial). The resource is the number of objective values a job has reported (its epochs, for a
  script that prints one per epoch): the engine's 0-based step ``n`` is Optuna's step ``n + 1``.
- ``TrainingJobEarlyStoppingType`` ``Auto`` (not Hyperband): ``MedianPruner`` -- a job whose
  objective is worse than the median of earlier jobs at the same step is stopped, as SageMaker's
  early stopping does.

``RandomSeed`` seeds the sampler: the same seed and the same results give the same suggestions.

Scaling: ``Logarithmic`` samples on a log scale; ``ReverseLogarithmic`` (continuous ranges within
[0, 1) only, as in SageMaker) samples ``1 - x`` on a log scale, which crowds values near 1;
``Auto`` is ``Logarithmic`` when ``MinValue > 0`` and the range spans at least three orders of
magnitude, else ``Linear``.

Hyperparameters cross this module as wire strings: integers as ``"12"``, floats as ``repr``,
categorical values as given. The study lives in memory: the engine keeps its own trial records
and re-seeds a restarted job with :meth:`TuningStrategy.add_prior_trials`.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

# one line per finished trial on the backend's console would drown its own log
optuna.logging.set_verbosity(optuna.logging.WARNING)

STATE_COMPLETED = "Completed"
STATE_STOPPED = "Stopped"
# SageMaker's early stopping needs a few finished jobs before it judges any; these mirror that
MEDIAN_STARTUP_TRIALS = 5
MEDIAN_WARMUP_STEPS = 1
MEDIAN_MIN_TRIALS = 3
# TPE explores at random first; a quarter of the budget, between 3 and 10 trials
TPE_MIN_STARTUP = 3
TPE_MAX_STARTUP = 10
LOG_AUTO_SPAN = 1000.0
# SageMaker's default quota of training jobs per tuning job (design notes; the parents' ones of a warm
# start count too). The API reference marks ResourceLimits.MaxNumberOfTrainingJobs "Required: No" and
# documents no default: a job that omits it launches training jobs until a TuningJobCompletionCriteria,
# ResourceLimits.MaxRuntimeInSeconds or a Stop ends it, and never more than this quota allows.
MAX_TRAINING_JOBS = 750


@dataclass(frozen=True)
class Suggestion:
    """The tuned hyperparameters of one trial, as wire strings."""

    trial_number: int
    hyperparameters: dict[str, str]


@dataclass(frozen=True)
class _Axis:
    """One tuned hyperparameter: its Optuna distribution and its wire conversions.

    ``reverse`` marks ReverseLogarithmic scaling: Optuna samples ``u = 1 - x`` on a log scale.
    """

    name: str
    distribution: BaseDistribution
    reverse: bool = False

    def to_wire(self, value: Any) -> str:
        if isinstance(self.distribution, CategoricalDistribution):
            return str(value)
        if isinstance(self.distribution, IntDistribution):
            return str(int(value))
        if self.reverse:
            assert isinstance(self.distribution, FloatDistribution)
            low, high = 1 - self.distribution.high, 1 - self.distribution.low
            # 1 - (1 - x) may land a rounding error outside the range
            return repr(min(max(1 - value, low), high))
        return repr(float(value))

    def from_wire(self, text: str) -> Any | None:
        """The Optuna value of a wire string, or None when it is not inside this range."""
        distribution = self.distribution
        if isinstance(distribution, CategoricalDistribution):
            return text if text in distribution.choices else None
        try:
            number = float(text)
        except ValueError:
            return None
        if isinstance(distribution, IntDistribution):
            if not number.is_integer():
                return None
            value: float = int(number)
        else:
            value = 1 - number if self.reverse else number
        assert isinstance(distribution, (IntDistribution, FloatDistribution))
        return value if distribution.low <= value <= distribution.high else None


def _scaling(scaling_type: str, low: float, high: float) -> str:
    if scaling_type != "Auto":
        return scaling_type
    return "Logarithmic" if low > 0 and high / low >= LOG_AUTO_SPAN else "Linear"


def _numeric_axis(spec: Mapping[str, Any], integer: bool) -> _Axis:
    name = spec["Name"]
    parse = int if integer else float
    try:
        low, high = parse(spec["MinValue"]), parse(spec["MaxValue"])
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"range {name!r}: MinValue and MaxValue must each be {kind}") from None
    if not low < high:
        raise ValueError(f"range {name!r}: MinValue {low} must be below MaxValue {high}")
    scaling = _scaling(spec.get("ScalingType", "Auto"), low, high)
    if scaling == "Logarithmic" and low <= 0:
        raise ValueError(f"range {name!r}: Logarithmic scaling needs MinValue > 0")
    if integer:
        if scaling == "ReverseLogarithmic":
            raise ValueError(f"range {name!r}: ReverseLogarithmic scaling applies to continuous ranges only")
        return _Axis(name, IntDistribution(int(low), int(high), log=scaling == "Logarithmic"))
    if scaling == "ReverseLogarithmic":
        if low < 0 or high >= 1:
            raise ValueError(f"range {name!r}: ReverseLogarithmic scaling needs 0 <= MinValue < MaxValue < 1")
        return _Axis(name, FloatDistribution(1 - high, 1 - low, log=True), reverse=True)
    if scaling not in ("Linear", "Logarithmic"):
        raise ValueError(f"range {name!r}: unknown ScalingType {scaling!r}")
    return _Axis(name, FloatDistribution(low, high, log=scaling == "Logarithmic"))


def _axes(ranges: Mapping[str, Any]) -> list[_Axis]:
    axes = [_numeric_axis(spec, integer=True) for spec in ranges.get("IntegerParameterRanges") or []]
    axes += [_numeric_axis(spec, integer=False) for spec in ranges.get("ContinuousParameterRanges") or []]
    for spec in ranges.get("CategoricalParameterRanges") or []:
        axes.append(_Axis(spec["Name"], CategoricalDistribution([str(v) for v in spec["Values"]])))
    if not axes:
        raise ValueError("ParameterRanges: at least one range is needed")
    names = [axis.name for axis in axes]
    if len(set(names)) != len(names):
        raise ValueError(f"ParameterRanges: a hyperparameter is named twice in {names}")
    return axes


class TuningStrategy:
    """An Optuna study driven by ask/report/tell from the engine's worker threads."""

    def __init__(
        self,
        axes: Sequence[_Axis],
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
        direction: StudyDirection,
        max_training_jobs: int,
        grid: bool = False,
    ) -> None:
        self._axes = {axis.name: axis for axis in axes}
        self._distributions = {axis.name: axis.distribution for axis in axes}
        self._study = optuna.create_study(sampler=sampler, pruner=pruner, direction=direction)
        self._lock = threading.Lock()
        self._running: dict[int, optuna.Trial] = {}
        self._reported: set[int] = set()
        self.max_training_jobs = max_training_jobs
        # Grid: combinations not proposed yet, and those already covered (proposed or prior)
        self._grid_left = _grid_size(axes) if grid else None
        self._grid_seen: set[tuple[tuple[str, Any], ...]] = set()

    @classmethod
    def from_config(
        cls, tuning_job_config: Mapping[str, Any], parameter_ranges: Mapping[str, Any] | None = None
    ) -> TuningStrategy:
        """Build from ``HyperParameterTuningJobConfig`` (wire types); ValueError when it is unusable."""
        axes = _axes(
            parameter_ranges if parameter_ranges is not None else tuning_job_config["ParameterRanges"]
        )
        strategy = tuning_job_config.get("Strategy", "Bayesian")
        seed = tuning_job_config.get("RandomSeed")
        limit = (tuning_job_config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs")
        objective = tuning_job_config.get("HyperParameterTuningJobObjective") or {}
        direction = {"Maximize": StudyDirection.MAXIMIZE, "Minimize": StudyDirection.MINIMIZE}[
            objective.get("Type", "Maximize")
        ]
        grid = strategy == "Grid"
        if grid and any(not isinstance(a.distribution, CategoricalDistribution) for a in axes):
            raise ValueError("Grid strategy takes categorical ranges only")
        budget = int(limit) if limit is not None else _grid_size(axes) if grid else MAX_TRAINING_JOBS
        sampler = _sampler(strategy, axes, seed, budget)
        pruner = _pruner(tuning_job_config, strategy)
        return cls(axes, sampler, pruner, direction, budget, grid=grid)

    # -- the engine's interface ----------------------------------------------------------------

    def ask(self) -> Suggestion | None:
        """The next trial to run, or None when the search space is exhausted (a finished grid)."""
        with self._lock:
            trial = (
                self._study.ask(self._distributions) if self._grid_left is None else self._next_grid_trial()
            )
            if trial is None:
                return None
            self._running[trial.number] = trial
            return Suggestion(trial.number, self._to_wire(trial.params))

    def _next_grid_trial(self) -> optuna.Trial | None:
        assert self._grid_left is not None
        while self._grid_left > 0:
            self._grid_left -= 1
            trial = self._study.ask(self._distributions)
            key = _key(trial.params)
            if key not in self._grid_seen:
                self._grid_seen.add(key)
                return trial
            # covered by a prior trial: told as failed only so that the grid sampler moves past it
            self._study.tell(trial, state=TrialState.FAIL)
        return None

    def skip(self, count: int) -> None:
        """Draw ``count`` suggestions and drop them: the new study of a resumed job goes on with
        its seeded sequence where its launches left it, instead of proposing its first
        hyperparameters again. A grid keeps its own account of what ran (:meth:`add_prior_trials`)."""
        if self._grid_left is not None:
            return
        with self._lock:
            for _ in range(count):
                self._study.tell(self._study.ask(self._distributions), state=TrialState.FAIL)

    def report(self, trial_number: int, step: int, value: float) -> bool:
        """Record an intermediate objective value; True when the job should be stopped early."""
        with self._lock:
            trial = self._running.get(trial_number)
            if trial is None or not math.isfinite(value):
                return False
            trial.report(value, step + 1)
            self._reported.add(trial_number)
            return trial.should_prune()

    def tell(self, trial_number: int, value: float | None, state: str) -> None:
        """Record how a trial ended; a trial told twice or never asked is ignored."""
        with self._lock:
            trial = self._running.pop(trial_number, None)
            if trial is None:
                return
            reported = trial_number in self._reported
            self._reported.discard(trial_number)
            if value is not None and not math.isfinite(value):
                value = None
            if state == STATE_COMPLETED and value is not None:
                self._study.tell(trial, value)
            elif state == STATE_STOPPED:
                if value is not None and not reported:
                    # stopped before any report: its final value is what the study can learn from
                    trial.report(value, 1)
                self._study.tell(trial, state=TrialState.PRUNED)
            else:
                self._study.tell(trial, state=TrialState.FAIL)

    def add_prior_trials(self, trials: Sequence[tuple[Mapping[str, str], float]]) -> int:
        """Seed the study with finished trials (warm start, or a restart); the number used.

        A trial is skipped when it lacks a tuned hyperparameter or has a value outside the
        current ranges (TransferLearning may change them); hyperparameters that are not tuned
        here are ignored.
        """
        added = 0
        with self._lock:
            for hyperparameters, objective in trials:
                params = self._from_wire(hyperparameters)
                if params is None or not math.isfinite(objective):
                    continue
                self._study.add_trial(
                    optuna.trial.create_trial(
                        params=params, distributions=self._distributions, value=objective
                    )
                )
                self._grid_seen.add(_key(params))
                added += 1
        return added

    def best(self) -> tuple[int, float] | None:
        """Trial number and objective of the best completed trial (prior trials included)."""
        with self._lock:
            if not any(t.state == TrialState.COMPLETE for t in self._study.get_trials(deepcopy=False)):
                return None
            trial = self._study.best_trial
            assert trial.value is not None
            return trial.number, trial.value

    # -- conversions ---------------------------------------------------------------------------

    def _to_wire(self, params: Mapping[str, Any]) -> dict[str, str]:
        return {name: self._axes[name].to_wire(value) for name, value in params.items()}

    def _from_wire(self, hyperparameters: Mapping[str, str]) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        for name, axis in self._axes.items():
            text = hyperparameters.get(name)
            value = None if text is None else axis.from_wire(str(text))
            if value is None:
                return None
            params[name] = value
        return params


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def _choices(axis: _Axis) -> Sequence[Any]:
    assert isinstance(axis.distribution, CategoricalDistribution)
    return axis.distribution.choices


def _grid_size(axes: Sequence[_Axis]) -> int:
    """The number of combinations (Grid takes categorical ranges only)."""
    return math.prod(len(_choices(axis)) for axis in axes)


class _GridSampler(optuna.samplers.GridSampler):
    """A GridSampler for ask/tell: the end of the grid is left to :meth:`TuningStrategy.ask`.

    Optuna's ``after_trial`` calls ``study.stop()`` once the grid is covered, which raises
    outside ``study.optimize``.
    """

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        return


def _sampler(
    strategy: str, axes: Sequence[_Axis], seed: int | None, budget: int
) -> optuna.samplers.BaseSampler:
    if strategy == "Random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "Grid":
        return _GridSampler({axis.name: list(_choices(axis)) for axis in axes}, seed=seed)
    if strategy not in ("Bayesian", "Hyperband"):
        raise ValueError(f"unknown Strategy {strategy!r}")
    with warnings.catch_warnings():
        # multivariate TPE is flagged experimental, yet it models interactions the default cannot
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            n_startup_trials=min(TPE_MAX_STARTUP, max(TPE_MIN_STARTUP, budget // 4)),
        )


def _pruner(config: Mapping[str, Any], strategy: str) -> optuna.pruners.BasePruner:
    if strategy == "Hyperband":
        hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
        max_resource = hyperband.get("MaxResource")
        return optuna.pruners.HyperbandPruner(
            min_resource=int(hyperband.get("MinResource", 1)),
            max_resource=int(max_resource) if max_resource is not None else "auto",
        )
    if config.get("TrainingJobEarlyStoppingType", "Off") == "Auto":
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP_TRIALS,
            n_warmup_steps=MEDIAN_WARMUP_STEPS,
            n_min_trials=MEDIAN_MIN_TRIALS,
        )
    return optuna.pruners.NopPruner()
