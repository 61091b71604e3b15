"""`make docs`: every service's AsyncAPI document and the gateway's OpenAPI, written to docs/.

`python -m deploy.apidocs [DIR]` writes `DIR/asyncapi/<service>.json` for every service
and `DIR/openapi/gateway.json` (DIR defaults to `docs/`). What each document says is
described in shared/apidocs.py; this is the entry point that imports the services.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.apidocs import DOCS_NATS_URL
from shared.settings import PROJECT_ROOT, SERVICES


def service_asyncapi(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service, as `faststream docs gen` writes it."""
    module = importlib.import_module(f"services.{service}.app")
    document: dict[str, Any] = module.app.schema.to_specification().to_jsonable()
    return document


def gateway_openapi() -> dict[str, Any]:
    module = importlib.import_module("services.gateway.app")
    document: dict[str, Any] = module.app.openapi()
    return document


def write_docs(out_dir: Path, services: Sequence[str] = SERVICES) -> list[Path]:
    """Build every document first, then write them (a failure leaves the old ones)."""
    documents = {out_dir / "asyncapi" / f"{s}.json": service_asyncapi(s) for s in services}
    documents[out_dir / "openapi" / "gateway.json"] = gateway_openapi()
    for path, document in documents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")
    return list(documents)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.apidocs",
        description="Write every service's AsyncAPI document and the gateway's OpenAPI.",
    )
    parser.add_argument("out_dir", nargs="?", type=Path, default=PROJECT_ROOT / "docs")
    args = parser.parse_args(argv)
    # The documents name the server; a fixed one keeps them the same on every machine
    # (not the embedded stack's random port).
    os.environ["FLOWERS_NATS_URL"] = DOCS_NATS_URL
    for path in write_docs(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
