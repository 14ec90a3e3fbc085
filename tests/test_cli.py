"""The `unembed` command as users and external checks call it: real processes, real files."""
import json

import numpy as np
import pytest

from conftest import run_cli, run_cli_together


def one_readable_line(done):
    lines = done.stderr.strip().splitlines()
    return done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr \
        and lines[0].startswith("unembed: error:")


@pytest.fixture(scope="module")
def model(tiny_run):
    return tiny_run / "last" / "model"


def test_invert_round_trip_json(model, tiny_data):
    text = (tiny_data / "train.txt").read_text().splitlines()[0]
    done = run_cli("invert", text, "Another sentence here.", "--json", "--model", model, "--steps", 8)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["text"] for r in results] == [text, "Another sentence here."]
    assert set(results[0]) == {"text", "reconstruction", "cosine", "token_accuracy", "encoder_calls", "warning"}
    assert results[0]["warning"] is None
    assert results[0]["encoder_calls"] == 0
    assert results[0]["reconstruction"] == text and results[0]["token_accuracy"] == 1.0
    assert results[0]["cosine"] > 0.99


def test_invert_vectors_prints_one_line_per_vector(model, tiny_data, tmp_path, encoder):
    texts = (tiny_data / "train.txt").read_text().splitlines()[:3]
    np.save(tmp_path / "v.npy", encoder.encode(texts))
    done = run_cli("invert", "--vectors", tmp_path / "v.npy", "--model", model)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == texts
    with open(tmp_path / "v.jsonl", "w") as f:
        for v in encoder.encode(texts[:2]):
            f.write(json.dumps({"vector": v.tolist()}) + "\n")
    done = run_cli("invert", "--vectors", tmp_path / "v.jsonl", "--model", model)
    assert done.stdout.splitlines() == texts[:2]


def test_eval_prints_the_metrics(model, tiny_data, tmp_path):
    done = run_cli("eval", tiny_data / "train.txt", "--model", model, "--limit", 10, "-q", "--json",
                   "--out", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("n", "token_accuracy", "token_f1", "bleu", "exact_match", "cosine", "seconds"):
        assert key in result
    assert result["n"] == 10 and result["token_accuracy"] > 0.5 and result["bleu"] > 30
    assert result["cosine"] > result["cosine_floor"] and result["unsupported_texts"] == 0
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 10


@pytest.mark.slow
def test_text_in_a_script_the_vocabulary_lacks_is_said_not_hidden(model, tiny_data, tmp_path):
    arabic = ["مرحبا بكم في المكتبة القديمة", "الكتاب على الطاولة في الغرفة", "ذهبت إلى السوق لشراء الخبز"]
    done = run_cli("invert", arabic[0], "--model", model)
    assert one_readable_line(done) and "Arabic" in done.stderr and "vocabulary" in done.stderr
    english = (tiny_data / "train.txt").read_text().splitlines()[0]
    done = run_cli("invert", english + " 오래된", "--model", model, "--json")  # a little: said, then inverted
    assert done.returncode == 0 and "warning" in done.stderr and "Hangul" in done.stderr
    assert "Hangul" in json.loads(done.stdout)[0]["warning"]
    (tmp_path / "ar.txt").write_text("\n".join(arabic) + "\n")
    done = run_cli("eval", tmp_path / "ar.txt", "--model", model, "-q")
    result = json.loads(done.stdout)
    assert result["unsupported_texts"] == 3 and result["unsupported_scripts"] == ["Arabic"]
    references = [e["reference"] for e in result["examples"]]  # cut to 16 tokens, in the text's own letters
    assert result["token_f1"] == 0 and all(r and a.startswith(r) for r, a in zip(references, arabic))


def test_help_gives_the_shipped_models_decoding_defaults_and_output_flags_agree(capsys):
    """--help states what a model decodes with (its sampling.json), not the class default; every
    command that prints results takes --json and -q."""
    from unembed.cli import build_parser
    from unembed.files.checkpoints import SHIPPED
    stored = {json.loads((SHIPPED / m / "sampling.json").read_text())["repetition_penalty"] for m in ("en", "multilingual")}
    assert stored != {0.0}  # else this test would not tell the two apart
    with pytest.raises(SystemExit):
        build_parser().parse_args(["invert", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    penalty = help_text[help_text.rindex("--repetition-penalty REPETITION_PENALTY"):][:160]  # not the usage line
    assert "the model's;" in penalty and str(stored.pop()) in penalty and "(default: 0.0)" not in penalty
    for command in (["invert", "a text"], ["eval", "f.txt"], ["audit", "f.txt"], ["align", "f.txt", "--out", "o"]):
        args = build_parser().parse_args(command + ["--json", "-q"])
        assert args.json and args.quiet


def test_the_commands_parse_in_a_tree_carried_without_its_shipped_weights(monkeypatch, tmp_path):
    """lab/device_train.sh sends the tree to a GPU machine with checkpoints/ left behind."""
    import unembed.cli as cli
    monkeypatch.setattr(cli, "SHIPPED", tmp_path / "absent")
    args = cli.build_parser().parse_args(["train", "--data", "d", "--out", "o", "--steps", "5"])
    assert args.steps == 5
    assert cli.build_parser().parse_args(["eval", "f.txt", "--model", "m"]).model == "m"


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(model, tmp_path):
    np.save(tmp_path / "wrong_dim.npy", np.ones((2, 100), np.float32))
    nan = np.ones((2, 384), np.float32)
    nan[1, 5] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "garbage.npy").write_bytes(b"\x00\x01 not an array")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x80\x81")
    cases = {
        "dimension 100": ["invert", "--vectors", tmp_path / "wrong_dim.npy", "--model", model],
        "NaN": ["invert", "--vectors", tmp_path / "nan.npy", "--model", model],
        "empty": ["invert", "", "--model", model],
        "model not found": ["invert", "hello there", "--model", tmp_path / "no_such_model"],
        "cannot read": ["invert", "--vectors", tmp_path / "garbage.npy", "--model", model],
        "not found": ["eval", tmp_path / "missing.txt", "--model", model, "--out", tmp_path / "out.json"],
        "UTF-8": ["eval", tmp_path / "binary.txt", "--model", model, "--out", tmp_path / "out.json"],
        "steps must be": ["invert", "hello there", "--model", model, "--steps", 99],
    }
    for expected, done in zip(cases, run_cli_together(list(cases.values()))):
        assert one_readable_line(done), (expected, done.returncode, done.stderr)
        assert expected in done.stderr, (expected, done.stderr)
    assert not (tmp_path / "out.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary.txt", "garbage.npy", "nan.npy", "wrong_dim.npy"]


@pytest.mark.parametrize("damage", ["truncated weights", "bad config", "bad tokenizer"])
def test_a_damaged_model_folder_is_one_readable_line(model, tmp_path, damage):
    import shutil
    broken = shutil.copytree(model, tmp_path / "broken")
    if damage == "truncated weights":
        data = (broken / "model.safetensors").read_bytes()
        (broken / "model.safetensors").write_bytes(data[:len(data) // 2])
    elif damage == "bad config":
        (broken / "config.json").write_text("{not json")
    else:
        (broken / "tokenizer.json").write_text('{"model": 42}')
    done = run_cli("invert", "hello there", "--model", broken)
    assert one_readable_line(done), done.stderr


def test_export_casts_weights_and_stores_decoding_defaults(model, tmp_path):
    done = run_cli("export", model, tmp_path / "shipped", "--dtype", "float16",
                   "--repetition-penalty", 1.5, "--schedule", "linear")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "shipped"
    assert (out / "model.safetensors").stat().st_size < 0.6 * (model / "model.safetensors").stat().st_size
    sampling = json.loads((out / "sampling.json").read_text())
    assert sampling["repetition_penalty"] == 1.5 and sampling["reveal_schedule"] == "linear"
    assert "--schedule is deprecated; use --reveal-schedule" in done.stderr   # the old flag still works
    assert not list(tmp_path.glob(".*tmp*"))
    import unembed
    assert unembed.load(out, device="cpu").decoding.repetition_penalty == 1.5
