"""The audit as a markdown page, a privacy-utility plot (PNG), JSON, and one self-contained HTML
page (the plot inline, no script, no outside reference: readable offline, safe to mail),
written atomically."""
from __future__ import annotations

import base64
import html as html_escape
import json
from pathlib import Path

from ..errors import UnembedError
from ..files import atomic
from ..sampling import GUIDED

METRICS = [("token_accuracy", "token acc", "{:.1%}"), ("token_f1", "token F1", "{:.1%}"),
           ("bleu", "BLEU", "{:.1f}"), ("exact_match", "exact", "{:.1%}"), ("cosine", "cosine", "{:.3f}"),
           ("name_recovery", "names", "{:.1%}"), ("number_recovery", "numbers", "{:.1%}")]
PLOT_FILE, JSON_FILE, MARKDOWN_FILE, HTML_FILE = "tradeoff.png", "audit.json", "audit.md", "report.html"
KEEP = 0.9  # a recommended defense keeps at least this share of the undefended store's recall


def recommend(report: dict, keep: float = KEEP) -> dict | None:
    """The defense that leaves the attacker least (token F1, after adapting where it adapted)
    among those keeping at least `keep` of search recall; None when no defense measured recall
    or none keeps enough. -> {"defense", "token_f1", "kept", "row"}"""
    def leak(row):
        attack = row.get("adaptive") or row["attack"]
        return attack["token_f1"] if attack.get("token_f1") is not None else attack["token_accuracy"]
    fit = [row for row in report["defenses"] if row.get("recall_kept") is not None and row["recall_kept"] >= keep]
    if not fit:
        return None
    best = min(fit, key=leak)
    return {"defense": best["defense"], "token_f1": leak(best), "kept": best["recall_kept"], "row": best}


def worst_examples(report: dict, n: int = 5) -> list[dict]:
    """The examples the attacker read back best under no defense (else the first defense)."""
    rows = report["defenses"]
    row = next((r for r in rows if r["defense"] == "none"), rows[0])
    return sorted(row["examples"], key=lambda e: -(e.get("token_f1") or 0.0))[:n]


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
           if s.get("strategy", "confidence") in GUIDED else "")
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
    choice = recommend(r)
    if choice:
        parts += [f"**Recommended**: `{choice['defense']}`, which keeps {choice['kept']:.0%} of recall@{r['k']} and "
                  f"leaves the attacker a token F1 of {choice['token_f1']:.0%} (the least leak among defenses "
                  f"keeping {KEEP:.0%} of search).", ""]
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


def html(report: dict, plot_png: bytes | None) -> str:
    """One self-contained page: what leaks, the recommendation and its cost, every defense's
    figures, the plot (inline), and the texts read back best."""
    e = html_escape.escape
    r, s = report, report["settings"]
    choice = recommend(r)
    if choice:
        advice = (f"<p class=advice>Recommended: <code>{e(choice['defense'])}</code>. It keeps "
                  f"{choice['kept']:.0%} of search recall@{r['k']} and leaves the attacker a token F1 of "
                  f"{choice['token_f1']:.0%}.</p>")
    else:
        advice = (f"<p class=advice>No defense measured here keeps {KEEP:.0%} of search recall "
                  "(or recall was not measured): see the table for what each costs.</p>")
    adaptive = any("adaptive" in row for row in r["defenses"])
    head = ["defense", f"recall@{r['k']}", "kept"] + [name for _, name, _ in METRICS] + \
        (["adaptive token F1", "adaptive BLEU"] if adaptive else [])
    rows = []
    for row in r["defenses"]:
        cells = [f"<code>{e(row['defense'])}</code>", _fmt(row["recall"], "{:.1%}"), _fmt(row["recall_kept"], "{:.1%}")]
        cells += [_fmt(row["attack"][key], pattern) for key, _, pattern in METRICS]
        if adaptive:
            a = row.get("adaptive") or {}
            cells += [_fmt(a.get("token_f1"), "{:.1%}"), _fmt(a.get("bleu"), "{:.1f}")]
        mark = " class=chosen" if choice and row is choice["row"] else ""
        rows.append(f"<tr{mark}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table_html = ("<table id=defenses><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) +
                  "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    picture = (f'<img id=tradeoff alt="privacy against utility" src="data:image/png;base64,'
               f'{base64.b64encode(plot_png).decode()}">' if plot_png else "")
    examples = "".join(f"<li><q>{e(x['reference'])}</q> &rarr; <q>{e(x['reconstruction'])}</q>"
                       + (f" <small>(token F1 {x['token_f1']:.0%})</small>" if x.get("token_f1") is not None else "")
                       + "</li>" for x in worst_examples(r))
    strategy = (f", strategy <code>{e(s['strategy'])}</code> (at most {s['encoder_budget']} encoder calls per text)"
                if s.get("strategy", "confidence") in GUIDED else "")
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>Leakage audit: {e(str(r.get('source', 'a text collection')))}</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}tr.chosen{{background:#e8f5e9}}.advice{{font-size:17px;
background:#fff8e1;padding:.6rem 1rem;border-left:4px solid #f0a000}}img{{max-width:100%}}q{{color:#333}}</style>
</head><body>
<h1>What leaks from these vectors</h1>
<p>Inverter <code>{e(str(r.get('model', '?')))}</code> for <code>{e(str(r['encoder'] or 'black-box vectors'))}</code>
({r['dim']}-d); {r['texts']} texts, {r['attacked']} attacked{f", {r['leaked']} leaked to the adaptive attacker" if r['leaked'] else ""};
{s['steps']} denoising steps{strategy}. Written by unembed.</p>
{advice}
<h2>Each defense: search kept, and what the attacker reads back</h2>
<p>recall@{r['k']}: the share of queries whose own document is among the {r['k']} nearest stored vectors;
<em>kept</em>: as a share of the undefended store's. Token F1, BLEU and exact match compare each
reconstruction with its text; cosine is between the clean vector and the re-embedded reconstruction;
names and numbers are the shares of capitalised words and digit strings recovered.</p>
{table_html}
{picture}
<h2>The texts read back best, with no defense</h2>
<ul id=examples>{examples}</ul>
</body></html>
"""


def check_destination(out: str | Path) -> Path:
    """`out` may be new, or an earlier audit's folder (replaced); never another folder."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (out / JSON_FILE).is_file()):
        raise UnembedError(f"{out} exists and is not an earlier audit; give a new folder to --out")
    return out


def write(report: dict, out: str | Path) -> Path:
    """audit.md, report.html, audit.json and tradeoff.png in `out`, all or nothing."""
    out = check_destination(out)
    with atomic.folder(out) as tmp:
        plot(report, tmp / PLOT_FILE)
        (tmp / MARKDOWN_FILE).write_text(markdown(report), encoding="utf-8")
        (tmp / HTML_FILE).write_text(html(report, (tmp / PLOT_FILE).read_bytes()), encoding="utf-8")
        (tmp / JSON_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


__all__ = ["check_destination", "html", "markdown", "plot", "recommend", "table", "worst_examples", "write"]
