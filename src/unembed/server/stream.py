"""One inversion as a stream of events for the page: 'start', one 'step' per denoising step
with the state of every position (or, for an encoder-guided strategy, one 'round' per round
with the best text so far, its cosine and the encoder calls spent), then 'done' with the text
and its scores."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np
import torch

from ..eval.roundtrip import reference_of, round_trip
from ..inverter import settings_dict
from ..sampling import GUIDED
from ..text.codes import MASK, PAD

# A position's state after a step: still masked; revealed at this step for the first time;
# revealed again with another token than before (remasking strategies); unchanged.
MASKED, NEW, CHANGED, KEPT = "masked", "new", "changed", "kept"


def position_states(before: list[int], after: list[int], shown: list[int | None]) -> list[str]:
    """before/after: codes of one text around a step; shown: the last token each position
    displayed before (None if never revealed)."""
    states = []
    for old, new, last in zip(before, after, shown):
        if new == MASK:
            states.append(MASKED)
        elif old != MASK:
            states.append(KEPT if new == old else CHANGED)
        else:
            states.append(NEW if last is None else (KEPT if last == new else CHANGED))
    return states


def start_decoding(inverter, vector: np.ndarray, settings, reference: str | None = None,
                   model: str = "", on_finish: Callable[[], None] = lambda: None,
                   submit: Callable | None = None) -> Iterator[tuple[str, dict]]:
    """Start decoding `vector` (1, D) now, on `submit` (an executor's) or a new thread; returns
    the events as they come. `settings`: the Inverter's Settings for this request. `on_finish`
    runs when the decoding ends, even if nobody reads them."""
    sampling = settings.decoding
    v = torch.from_numpy(inverter.to_model_space(vector)).to(inverter.device)
    length = inverter.lengths_for(v)
    n = int(length[0])
    steps: queue.Queue = queue.Queue()

    def run():
        try:
            if sampling.strategy in GUIDED:
                detail = inverter.invert_detailed(vector, round_callback=lambda r, texts, cosines, calls, kinds: steps.put(
                    ("round", r, texts[0], cosines[0], calls[0], kinds[0])), **settings_dict(settings))[0]
                codes = inverter.vocab.encode([detail["reconstruction"]], inverter.max_len)[0]
                steps.put(("end", [int(c) for c in codes if c != PAD], detail["encoder_calls"]))
                return
            codes = inverter.generate(v, sampling, lengths=length, callback=lambda i, c, conf: steps.put(
                ("step", i, c[0, :n].tolist(), conf[0, :n].tolist())))
            steps.put(("end", codes[0, :n].tolist(), 0))
        except Exception as exc:  # reported to the client as an event
            steps.put(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            on_finish()

    if submit is not None:
        submit(run)
    else:
        threading.Thread(target=run, daemon=True, name="unembed-stream").start()
    return _events(inverter, vector, sampling, reference, model, n, steps)


def _events(inverter, vector, sampling, reference, model, n, steps):
    vocab = inverter.vocab
    yield "start", {"model": model, "strategy": sampling.strategy, "steps": sampling.steps, "length": n,
                    "vector": {"dim": int(vector.shape[1]), "norm": float(np.linalg.norm(vector[0])),
                               "values": [round(float(x), 5) for x in vector[0]]}}
    before, shown = [MASK] * n, [None] * n
    while True:
        kind, *payload = steps.get()
        if kind == "error":
            yield "error", {"error": payload[0]}
            return
        if kind == "round":
            index, text, cosine, calls, kind = payload
            yield "round", {"round": index, "text": text, "cosine": round(float(cosine), 4),
                            "encoder_calls": calls, "written_by": kind}
            continue
        if kind == "step":
            index, codes, confidence = payload
            states = position_states(before, codes, shown)
            shown = [c if c != MASK else s for c, s in zip(codes, shown)]
            before = codes
            yield "step", {"step": index, "tokens": vocab.pieces(codes), "states": states,
                           "confidence": [round(float(x), 3) for x in confidence]}
            continue
        codes, calls = payload
        text = vocab.decode(codes)
        done = {"text": text, "tokens": vocab.pieces(codes), "encoder_calls": calls}
        try:
            encoder = inverter.encoder
        except Exception:  # a black-box inverter has no encoder to check with
            encoder = None
        L = inverter.max_len
        cut = [reference_of(vocab, reference, L)] if reference is not None else None
        check = round_trip(vocab, L, [text], cut, encoder, vector)[0]
        done["cosine"] = check["cosine"]
        if reference is not None:
            done["reference"] = cut[0]
            ref_codes = vocab.encode(cut, L)[0]
            done["reference_tokens"] = vocab.pieces(ref_codes[ref_codes != PAD])
            done["token_accuracy"] = check["token_accuracy"]
            done["warning"] = vocab.warning(reference)
        yield "done", done
        return
