"""The LM corrector's held-out loss against CPU-hours, from its runs' logs (train-lm writes
`log.jsonl` with the wall seconds of each logged step; a run continued from another's folder
carries its log on).

    python lab/lm_curve.py runs/lm-words33 runs/lm-prefix-words:1 runs/lm-prefix --out lab/lm-curve.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def curve(run: Path) -> list[tuple[int, float, float]]:
    """-> (step, wall seconds of training so far, held-out loss), one per evaluation. A resumed
    run appends to its log and restarts its clock from the last checkpoint: the entries past
    that checkpoint are replaced and the clock made cumulative."""
    entries: list[dict] = []
    offset, raw_last = 0.0, 0.0
    for line in (run / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        raw = entry["seconds"]
        if raw < raw_last:                       # a resume from the checkpoint 10 steps back
            entries = [e for e in entries if e["step"] <= entry["step"] - 10]
            offset = entries[-1]["seconds"] if entries else 0.0
        raw_last = raw
        entries.append({**entry, "seconds": offset + raw})
    return [(e["step"], e["seconds"], e["heldout_loss"]) for e in entries if "heldout_loss" in e]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN[:CORES]", help="a run folder and the cores it used (default 2)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for spec in args.runs:
        run, _, cores = spec.partition(":")
        points = curve(Path(run))
        xs = [float(cores or 2) * s / 3600 for _, s, _ in points]
        ax.plot(xs, [loss for _, _, loss in points], "o-", label=Path(run).name)
        for (step, _, loss), x in zip(points, xs):
            print(f"{Path(run).name} step {step}: {x:.2f} CPU-hours, held-out loss {loss:.4f}")
    ax.set_xlabel("CPU-hours of training (core-hours)")
    ax.set_ylabel("held-out loss (64 pairs)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
