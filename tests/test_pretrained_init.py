"""Starting the denoiser from the real MiniLM encoder's weights (`--init-from`): each BERT
tensor lands where the pre-LN, AdaLN blocks read it."""
import torch
from safetensors.torch import load_file

from unembed.model.config import ModelConfig
from unembed.encoders.sentence_transformers import resolve_model_path
from unembed.model import ConditionalMDLM
from unembed.model.pretrained_init import init_from_bert
from unembed.text.vocabulary import Vocabulary


def test_minilm_weights_land_in_the_blocks_and_their_modulation_rows(tiny_data):
    vocab = Vocabulary.load(tiny_data)
    model = ConditionalMDLM(ModelConfig(vocab_size=len(vocab), hidden=384, layers=2, heads=12).validate())
    folder = resolve_model_path("all-MiniLM-L6-v2")
    init_from_bert(model, folder, vocab)
    w = {k.removeprefix("bert."): v for k, v in load_file(f"{folder}/model.safetensors").items()}
    H = 384

    block = model.blocks[1]
    assert torch.equal(block.attn.qkv.weight[:H], w["encoder.layer.1.attention.self.query.weight"])
    assert torch.equal(block.mlp.proj.bias, w["encoder.layer.1.output.dense.bias"])
    bias = block.ada[-1].bias
    # Before attention: the LayerNorm that ended the block before; before the MLP: attention's.
    assert torch.equal(bias[block.rows("shift1", H)], w["encoder.layer.0.output.LayerNorm.bias"])
    assert torch.equal(bias[block.rows("scale1", H)], w["encoder.layer.0.output.LayerNorm.weight"] - 1)
    assert torch.equal(bias[block.rows("shift2", H)], w["encoder.layer.1.attention.output.LayerNorm.bias"])
    assert torch.equal(bias[block.rows("scale2", H)], w["encoder.layer.1.attention.output.LayerNorm.weight"] - 1)
    assert bool((bias[block.rows("gate1", H)] == 1).all() and (bias[block.rows("gate2", H)] == 1).all())
    assert not block.ada[-1].weight.any()  # the condition still enters from zero
    first = model.blocks[0].ada[-1].bias
    assert torch.equal(first[model.blocks[0].rows("shift1", H)], w["embeddings.LayerNorm.bias"])
    final = model.final.ada[-1].bias
    assert torch.equal(final[model.final.rows("scale", H)], w["encoder.layer.1.output.LayerNorm.weight"] - 1)

    # The modulations the forward pass reads are those rows: a zero condition gives the gates 1.
    mods = block.modulations(torch.zeros(1, H), None)
    assert list(mods) == list(block.MODULATIONS) and bool((mods["gate2"] == 1).all())
