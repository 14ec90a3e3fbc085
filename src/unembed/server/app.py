"""The REST API and the demo page. `create_app(models, config)` builds the FastAPI app;
`unembed serve` runs it with uvicorn.

    POST /v1/embed          {"texts": [...]}               -> {"vectors": [[...], ...]}
    POST /v1/invert         {"vectors": [[...], ...]}      -> {"texts": [...], "encoder_calls": [...]}
    POST /v1/invert/stream  {"text": "..."} or {"vector": [...]} -> server-sent events, one per step
                            (or, for `correct` and `refine`, one per round)
    GET  /v1/models, /v1/examples, /health; the page at /, OpenAPI docs at /docs

Every refusal is JSON {"error": "what to fix"} with a 4xx status; a full server answers 503
with Retry-After."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..version import __version__
from .config import ServeConfig
from ..encoders import check_vectors
from ..errors import UnembedError
from .limits import BodyLimit, Gate
from .models import ModelRegistry
from .schemas import EmbedRequest, InvertRequest, StreamRequest
from .stream import start_decoding

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(models: dict[str, str] | None = None, config: ServeConfig | None = None,
               aligns: dict[str, str] | None = None) -> FastAPI:
    """models: name -> checkpoint folder or shipped name (default: every shipped model);
    aligns: name -> alignment map folder for models that read another encoder's vectors."""
    config = config or ServeConfig()
    registry = ModelRegistry(models, device=config.device, aligns=aligns, precision=config.precision)
    gate = Gate(config.max_concurrent)
    app = FastAPI(title="unembed", version=__version__,
                  description="Turn text-embedding vectors back into text.")
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    origins = [o.strip() for o in config.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and Starlette's own (unparsable body, 404, 405)
    async def http_error(_, exc: StarletteHTTPException):
        detail = exc.detail if exc.status_code != 400 else f"the body is not valid JSON ({exc.detail})"
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(UnembedError)
    async def bad_input(_, exc: UnembedError):
        return JSONResponse({"error": str(exc)}, status_code=422)

    def checked_texts(texts: list[str]) -> list[str]:
        if not texts:
            raise HTTPException(422, "texts: give at least one text")
        if len(texts) > config.max_batch:
            raise HTTPException(413, f"texts: at most {config.max_batch} per request, got {len(texts)}")
        for i, text in enumerate(texts):
            if not text.strip():
                raise HTTPException(422, f"texts[{i}] is empty; give non-empty text")
            if len(text) > config.max_text_chars:
                raise HTTPException(413, f"texts[{i}] has {len(text)} characters; the limit is "
                                         f"{config.max_text_chars}")
        return texts

    def checked_vectors(rows: list[list[float]], dims: tuple[int, ...]) -> np.ndarray:
        """dims: the widths the model reads (its full one, and any Matryoshka prefixes)."""
        if len(rows) > config.max_batch:
            raise HTTPException(413, f"vectors: at most {config.max_batch} per request, got {len(rows)}")
        widths = " or ".join(map(str, dims))
        if any(len(r) not in dims for r in rows):
            bad = next(i for i, r in enumerate(rows) if len(r) not in dims)
            raise HTTPException(422, f"vectors[{bad}] has {len(rows[bad])} numbers; this model "
                                     f"inverts {widths}-dimensional vectors")
        if len({len(r) for r in rows}) > 1:
            raise HTTPException(422, "vectors: give rows of one width per request")
        return check_vectors(np.asarray(rows, dtype=np.float32))

    @app.get("/health")
    def health():
        return {"status": "ok", "version": __version__}

    @app.get("/v1/models")
    def list_models():
        return {"models": registry.describe()}

    @app.get("/v1/examples")
    def examples():
        lines = (STATIC / "examples.txt").read_text(encoding="utf-8").splitlines()
        return {"texts": [t for t in lines if t.strip()]}

    @app.post("/v1/embed")
    def embed(req: EmbedRequest):
        name, inverter = registry.get(req.model)
        texts = checked_texts(req.texts)
        vectors = gate.run(inverter.encoder.encode, texts)
        return {"model": name, "dim": int(vectors.shape[1]), "vectors": vectors.tolist()}

    @app.post("/v1/invert")
    def invert(req: InvertRequest):
        name, inverter = registry.get(req.model)
        vectors = checked_vectors(req.vectors, inverter.input_dims)
        decoding = inverter.settings_with(**req.sampling()).decoding
        details = gate.run(lambda: inverter.invert_detailed(vectors, **req.sampling()))
        return {"model": name, "strategy": decoding.strategy, "steps": decoding.steps,
                "texts": [d["reconstruction"] for d in details],
                "encoder_calls": [d["encoder_calls"] for d in details]}

    @app.post("/v1/invert/stream")
    def invert_stream(req: StreamRequest):
        name, inverter = registry.get(req.model)
        settings = inverter.settings_with(**req.sampling())
        inverter.searcher(settings)  # a search without its parts: refused here, in one line
        if (req.text is None) == (req.vector is None):
            raise HTTPException(422, "give either text or vector")
        release = gate.hold()  # given back when the decoding thread ends
        try:
            if req.text is not None:
                vector = gate.workers.submit(inverter.encoder.encode, checked_texts([req.text])).result()
            else:
                vector = checked_vectors([req.vector], inverter.input_dims)
        except BaseException:
            release()
            raise
        events = start_decoding(inverter, vector, settings, reference=req.text, model=name, on_finish=release,
                                submit=gate.workers.submit)
        return StreamingResponse(_server_sent(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _server_sent(events):
    for event, data in events:
        yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def serve(models: dict[str, str] | None, config: ServeConfig, aligns: dict[str, str] | None = None) -> None:
    import uvicorn
    app = create_app(models, config, aligns)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")


__all__ = ["create_app", "serve"]
