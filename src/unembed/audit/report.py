"""The audit as a markdown page, a privacy-utility plot (PNG) and JSON, written atomically."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UnembedError
from .. import atomic

METRICS = [("token_accuracy", "token acc", "{:.1%}"), ("token_f1", "token F1", "{:.1%}"),
           ("bleu", "BLEU", "{:.1f}"), ("exact_match", "exact", "{:.1%}"), ("cosine", "cosine", "{:.3f}"),
           ("name_recovery", "names", "{:.1%}"), ("number_recovery", "numbers", "{:.1%}")]
PLOT_FILE, JSON_FILE, MARKDOWN_FILE = "tradeoff.png", "audit.json", "audit.md"


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def table(report: dict) -> str:
    """One row per defense: utility, then what the attacker recovers (and, adaptive, after adapting)."""
    adaptive = any("adaptive" in row for row in report["defenses"])
    head = ["defense", f"recall@{report['k']}", "kept", "recall@1"] + [name for _, name, _ in METRICS]
    if adaptive:
        head += ["adaptive token acc", "adaptive BLEU", "adaptive cosine", "adaptive names"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["defenses"]:
        cells = [f"`{row['defense']}`", _fmt(row["recall"], "{:.1%}"), _fmt(row["recall_kept"], "{:.1%}"),
                 _fmt(row["recall_at_1"], "{:.1%}")]
        cells += [_fmt(row["attack"][key], pattern) for key, _, pattern in METRICS]
        if adaptive:
            a = row["adaptive"]
            cells += [_fmt(a["token_accuracy"], "{:.1%}"), _fmt(a["bleu"], "{:.1f}"),
                      _fmt(a["cosine"], "{:.3f}"), _fmt(a["name_recovery"], "{:.1%}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict, plot: str | None = PLOT_FILE) -> str:
    r = report
    s = r["settings"]
    parts = [
        f"# Leakage audit: {r.get('source', 'a text collection')}",
        "",
        f"Inverter `{r.get('model', '?')}` for `{r['encoder'] or 'black-box vectors'}` ({r['dim']}-d); "
        f"{r['texts']} texts, {r['attacked']} attacked"
        + (f", {r['leaked']} leaked to the adaptive attacker" if r["leaked"] else "")
        + f"; {s['steps']} denoising steps"
        + (f", strategy `{s['strategy']}` (at most {s['encoder_budget']} encoder calls per text)"
           if s.get("strategy", "confidence") in ("correct", "refine") else "")
        + f"; {r['seconds']:.0f} s.",
        "",
        f"**Utility**: recall@{r['k']}: the share of queries whose own document is among the {r['k']} "
        f"nearest stored vectors (cosine). Queries: {r['queries']}. *kept*: recall as a share of the "
        "undefended store's. Noise goes on stored documents only; quantisation, truncation and "
        "rotation apply to queries too.",
        "",
        "**Attack**: the inverter reads what an attacker who knows each mechanism but no secret "
        "would give it (a truncated vector padded with zeros, PCA coordinates mapped back, a rotated "
        "vector as it is). Token accuracy, F1, BLEU and exact match are against each text's first "
        "tokens up to the model's length; cosine is between the clean vector and the re-embedded "
        "reconstruction; names and numbers are the shares of capitalised words and digit strings "
        "recovered."
        + (" **Adaptive**: the attacker holds the leaked (text, stored vector) pairs. It maps what it "
           "sees back to the clean space (no map, least squares or Procrustes, whichever validates "
           "best on a fifth of its pairs) and fine-tunes the inverter on the mapped pairs (up to "
           f"{s['adaptive_steps']} steps, keeping the weights with the lowest held-out loss)."
           if r["leaked"] else ""),
        "",
        table(r),
        "",
    ]
    if r.get("skipped"):
        parts += ["Not applied to this collection: " + "; ".join(
            f"`{row['defense']}` ({row['reason']})" for row in r["skipped"]) + ".", ""]
    if plot:
        parts += [f"![privacy against utility]({plot})", ""]
    parts += ["## Examples", ""]
    for row in r["defenses"]:
        for e in row["examples"][:2]:
            parts.append(f"- `{row['defense']}`: {e['reference']!r} -> {e['reconstruction']!r}"
                         + (f" (adaptive: {e['adaptive']!r})" if "adaptive" in e else ""))
    return "\n".join(parts) + "\n"


def plot(report: dict, path: Path) -> None:
    """Token accuracy and cosine of the attack against recall@k, one point per defense."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in report["defenses"] if r["recall"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, key, label in ((axes[0], "token_accuracy", "token accuracy of the attack"),
                           (axes[1], "cosine", "cosine of the re-embedded reconstruction")):
        for row in rows:
            x, y = row["recall"], row["attack"][key]
            if y is None:
                continue
            ax.scatter(x, y, color="tab:red", zorder=3)
            ax.annotate(row["defense"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            if "adaptive" in row and row["adaptive"][key] is not None:
                ax.scatter(x, row["adaptive"][key], facecolors="none", edgecolors="tab:purple", zorder=3)
                ax.plot([x, x], [y, row["adaptive"][key]], color="tab:purple", lw=0.8, ls=":")
        ax.set_xlabel(f"recall@{report['k']} (utility kept)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title("filled: attacker as trained" + ("; hollow: adaptive" if report["leaked"] else ""),
                      fontsize=9)
    fig.suptitle("Privacy against utility: a good defense sits low (little recovered) and right (search kept)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_destination(out: str | Path) -> Path:
    """`out` may be new, or an earlier audit's folder (replaced); never another folder."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (out / JSON_FILE).is_file()):
        raise UnembedError(f"{out} exists and is not an earlier audit; give a new folder to --out")
    return out


def write(report: dict, out: str | Path) -> Path:
    """audit.md, audit.json and tradeoff.png in `out`, all or nothing."""
    out = check_destination(out)
    with atomic.folder(out) as tmp:
        plot(report, tmp / PLOT_FILE)
        (tmp / MARKDOWN_FILE).write_text(markdown(report), encoding="utf-8")
        (tmp / JSON_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


__all__ = ["check_destination", "markdown", "plot", "table", "write"]
