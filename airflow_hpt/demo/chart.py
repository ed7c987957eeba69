"""The demo's picture: the objective of every training job over time, both runs, best so far."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from airflow_hpt.demo.report import TrainingPoint

RUN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def write_chart(
    points: Sequence[TrainingPoint],
    path: Path,
    *,
    metric: str,
    threshold: float | None = None,
    run_labels: Sequence[str] = (),
) -> Path:
    """Write a PNG: one dot per training job at its end time, one colour per run, the chain's best so far.

    For a Maximize objective within [0, 1], as retrain_weekly's accuracy. Early-stopped jobs are hollow (their objective is the last value they reported before the stop).
    """
    import matplotlib

    # no display on servers and in CI; Agg renders straight to the file
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    scored = sorted((p for p in points if p.objective is not None), key=lambda p: p.end_time)
    if not scored:
        raise ValueError("no training job has an objective value to plot")
    origin = min(p.start_time for p in points)

    def seconds(when: datetime) -> float:
        return (when - origin).total_seconds()

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    runs = sorted({p.run for p in points})
    for run in runs:
        color = RUN_COLORS[(run - 1) % len(RUN_COLORS)]
        mine = [p for p in scored if p.run == run]
        label = run_labels[run - 1] if run <= len(run_labels) else f"run {run}"
        span = [p for p in points if p.run == run]
        left, right = seconds(min(p.start_time for p in span)), seconds(max(p.end_time for p in span))
        ax.axvspan(left, right, color=color, alpha=0.08, zorder=0)
        ax.annotate(
            label,
            (left, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -14),
            textcoords="offset points",
            color=color,
            fontsize=9,
            fontweight="bold",
        )
        for stopped in (False, True):
            subset = [p for p in mine if (p.status == "Stopped") == stopped]
            ax.scatter(
                [seconds(p.end_time) for p in subset],
                [float(p.objective or 0.0) for p in subset],
                s=46,
                facecolors="none" if stopped else color,
                edgecolors=color,
                linewidths=1.5,
                zorder=3,
            )

    best: list[float] = []
    for point in scored:
        value = float(point.objective or 0.0)
        best.append(value if not best else max(best[-1], value))
    ax.step([seconds(p.end_time) for p in scored], best, where="post", color="black", linewidth=1.6, zorder=2)
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, zorder=1)

    values = [float(p.objective or 0.0) for p in scored]
    low = min([*values, threshold] if threshold is not None else values)
    ax.set_ylim(max(0.0, low - 0.02), min(1.0, max(values) + 0.025))
    ax.set_xlabel("seconds since the first training job started (the gap between runs is Airflow's)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of every training job: {len(runs)} weekly runs, each warm-starting the next")
    legend = [
        Line2D([], [], marker="o", linestyle="", color="grey", label="training job (at its end)"),
        Line2D([], [], marker="o", linestyle="", color="grey", markerfacecolor="none", label="stopped early"),
        Line2D([], [], color="black", linewidth=1.6, label="best so far (the chain's)"),
    ]
    if threshold is not None:
        legend.append(Line2D([], [], color="tab:red", linestyle="--", label=f"quality gate ({threshold})"))
    # below the axes: inside, it would hide some of the dots
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
