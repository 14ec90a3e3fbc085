"""Probe: a continued inverter averaged with the model it continued (weight-space
interpolation, as WiSE-FT does for fine-tuned models), to trade what the continuation
learned against what it forgot without training again.

    python lab/interpolate_weights.py --tuned runs/gemma11/last/model --base gemma --alpha 0.5 --out /tmp/mix

alpha is the base's share. A base whose vocabulary the continuation grew gets the rows the
warm start gave it (train.loop.grown_rows), so both start from the same point. The output is
a checkpoint folder for `unembed export`.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from unembed.files.checkpoints import resolve_checkpoint
from unembed.model.denoiser import ConditionalMDLM
from unembed.text.vocabulary import Vocabulary
from unembed.train.loop import grown_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tuned", required=True, help="the continued model's folder")
    ap.add_argument("--base", required=True, help="the model it continued (folder or shipped name)")
    ap.add_argument("--alpha", type=float, required=True, help="the base's share, 0..1")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        ap.error("--alpha must be between 0 and 1")
    tuned_dir, base_dir = Path(args.tuned), resolve_checkpoint(args.base)
    tuned = ConditionalMDLM.from_pretrained(tuned_dir)
    base = ConditionalMDLM.from_pretrained(base_dir)
    vocab, own = Vocabulary.load(tuned_dir), Vocabulary.load(base_dir)
    if base.config.layers != tuned.config.layers:
        ap.error("the two models differ in depth; interpolate models of one shape")
    source = base.state_dict() if own.same_as(vocab) else grown_rows(base.state_dict(), own, vocab)
    mixed = {k: (1 - args.alpha) * v.float() + args.alpha * source[k].float() if v.is_floating_point() else v
             for k, v in tuned.state_dict().items()}
    tuned.load_state_dict(mixed)
    out = Path(args.out)
    if out.exists():
        ap.error(f"{out} exists; choose another --out")
    shutil.copytree(tuned_dir, out, ignore=shutil.ignore_patterns("model*.safetensors*", "config.json"))
    tuned.save_pretrained(out)
    print(f"{out}: {1 - args.alpha:.2f} x {tuned_dir} + {args.alpha:.2f} x {base_dir}")


if __name__ == "__main__":
    main()
