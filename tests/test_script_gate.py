"""The script gate: which scripts a vector's text is in, read from a real encoder's vectors of
texts it was not fitted on; its folder; and the command's refusals. Decoding with a gate is
tested end to end on the tiny Gemma inverter (test_gemma.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import DATA, run_cli
from unembed.sampling.config import DecodeConfig
from unembed.model.config import ScriptGateConfig
from unembed.errors import UnembedError
from unembed.model.script_gate import ScriptGate, text_scripts

ROWS = [line.split("\t") for line in (DATA / "multilingual.tsv").read_text("utf-8").splitlines()]
TEXTS = [text for _, text in ROWS]  # 14 languages, 4 texts each, 7 scripts


def test_scripts_of_a_text_are_those_of_its_letters():
    assert text_scripts("Привет, world 123!") == {"Cyrillic", "Latin"}
    assert text_scripts("東京へ行きます") == {"Han", "Kana"}
    assert text_scripts("नमस्ते") == {"Devanagari"} and text_scripts("42 % -") == set()


@pytest.fixture(scope="module")
def fitted(encoder):
    """A gate fitted on three texts of each language; the fourth of each is never seen."""
    vectors = encoder.encode(TEXTS)
    unseen = np.arange(len(TEXTS)) % 4 == 3
    gate = ScriptGate.fit(vectors[~unseen], [t for t, u in zip(TEXTS, unseen) if not u],
                          ScriptGateConfig(min_texts=3, steps=1000, lr=0.03, heldout=0))
    return gate, vectors[unseen], [t for t, u in zip(TEXTS, unseen) if u]


def test_gate_reads_the_scripts_of_texts_it_never_saw(fitted):
    gate, vectors, texts = fitted
    assert gate.scripts == ["Cyrillic", "Devanagari", "Greek", "Han", "Hangul", "Kana", "Latin"]
    p = gate.probabilities(torch.from_numpy(vectors))
    truth = torch.tensor([[s in text_scripts(t) for s in gate.scripts] for t in texts])
    assert ((p > 0.5) == truth).float().mean(0).min() >= 0.9          # every script, on its own
    held_back = p < DecodeConfig().script_gate                        # the default --script-gate
    assert not (held_back & truth).any()                              # never a script the text is in
    assert held_back[~truth].float().mean() > 0.9                     # most of those it is not in


def test_gate_folder_round_trips_and_a_wrong_one_is_refused(fitted, tmp_path):
    gate, vectors, _ = fitted
    again = ScriptGate.from_pretrained(gate.save_pretrained(tmp_path / "gate"))
    x = torch.from_numpy(vectors)
    assert again.scripts == gate.scripts and torch.equal(again.probabilities(x), gate.probabilities(x))
    (tmp_path / "gate" / "config.json").write_text('{"type": "unembed/align-map", "format": 1}')
    with pytest.raises(UnembedError, match="align-map"):
        ScriptGate.from_pretrained(tmp_path / "gate")


def test_gate_needs_two_scripts_and_the_command_writes_nothing_without_them(tiny_run, tiny_data, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for f in (tiny_run / "last" / "model").iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    done = run_cli("script-gate", tiny_data, "--model", model, "--min-texts", 2, "-q")
    assert done.returncode == 2 and "Latin alone" in done.stderr.strip().splitlines()[-1], done.stderr
    assert "Traceback" not in done.stderr and not (model / "script_gate").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    bad = run_cli("script-gate", tiny_data, "--model", model, "--heldout", 1.5, "-q")
    assert bad.returncode == 2 and "heldout" in bad.stderr.strip().splitlines()[-1]
