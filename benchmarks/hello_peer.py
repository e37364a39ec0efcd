"""The benchmark's peer: a hello-world FastAPI app, served exactly the way `nohaven serve` serves the node.

Run as `python benchmarks/hello_peer.py --port P`; `api_load.py` starts it next to the node in the same run.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import Body, FastAPI

app = FastAPI(title="hello-world peer")


@app.get("/hello")
async def hello_get() -> dict[str, str]:
    return {"hello": "world"}


@app.post("/hello")
async def hello_post(payload: dict[str, Any] = Body(...)) -> dict[str, str]:
    # The body is parsed as JSON (as the node must) but not validated or stored: this is the floor.
    return {"hello": "world"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Same server settings as `nohaven serve`: one worker, log level info, no access log.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
