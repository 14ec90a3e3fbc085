"""`unembed serve`'s settings."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, check_types
from ..runtime.precision import PRECISIONS


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"          # address to listen on (0.0.0.0 to serve other machines)
    port: int = 8000                 # TCP port
    device: str = "auto"             # where models run: auto | cpu | cuda
    precision: str = "auto"          # decoder matrix products: auto (bfloat16 on a GPU or a bfloat16 CPU) | float32 | bfloat16
    max_batch: int = 64              # most vectors or texts in one request
    max_text_chars: int = 2000       # longest text accepted by /v1/embed and the page
    max_body_bytes: int = 4_000_000  # largest request body
    max_concurrent: int = 2          # requests decoding at once; more get 503 with Retry-After
    cors_origins: str = ""           # comma-separated origins allowed by CORS ('*' for any; '' = none)

    def validate(self) -> "ServeConfig":
        check_types(self)
        check([
            (not 0 <= self.port <= 65535, f"--port must be between 0 and 65535, got {self.port}"),
            (self.precision not in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (min(self.max_batch, self.max_text_chars, self.max_body_bytes, self.max_concurrent) < 1,
             "max-batch, max-text-chars, max-body-bytes and max-concurrent must be at least 1"),
            (not self.host, "--host is empty: give an address such as 127.0.0.1"),
        ])
        return self
