"""Plot held-out token accuracy against CPU-hours, one line per training run, and tabulate
where each run ended.

    python lab/sweep_report.py runs/a runs/b --labels "recipe A" "recipe B" \\
        --out docs/sweep-en

CPU-hours are the training process's own CPU time (all its threads, evaluations included),
read from each run's log.jsonl, so runs on one thread and on two compare fairly. A run
continued from another (same folder history) simply goes on along the x axis.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def evaluations(run: Path) -> list[dict]:
    """The run's evaluations. Logs written before CPU time was recorded get wall seconds x
    threads instead (an upper bound on what the threads used)."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "eval_token_accuracy" in r]
    threads = json.loads((run / "config.json").read_text())["train"].get("threads") or 1
    for r in evals:
        r.setdefault("cpu_seconds", r["elapsed"] * threads)
    return evals


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--labels", nargs="*", help="one per run (default: folder names)")
    p.add_argument("--out", type=Path, required=True, help="path stem: writes .png and .md")
    args = p.parse_args()
    labels = args.labels or [r.name for r in args.runs]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    table = ["| recipe | CPU-hours | steps | token acc. (8 steps) | masked acc. | length acc. | cosine |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for run, label in zip(args.runs, labels):
        evals = evaluations(run)
        if not evals:
            continue
        hours = [e["cpu_seconds"] / 3600 for e in evals]
        ax.plot(hours, [100 * e["eval_token_accuracy"] for e in evals], marker="o", label=label)
        last = evals[-1]
        table.append(f"| {label} | {hours[-1]:.2f} | {last['step']} | {100 * last['eval_token_accuracy']:.1f}% "
                     f"| {100 * last.get('eval_masked_acc', 0):.1f}% | {100 * last.get('eval_length_acc', 0):.1f}% "
                     f"| {format(last['eval_cosine'], '.3f') if 'eval_cosine' in last else '-'} |")
    ax.set_xlabel("CPU-hours (process CPU time, all threads)")
    ax.set_ylabel("held-out token accuracy, 8 steps (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out.with_suffix(".png"), dpi=120)
    args.out.with_suffix(".md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
