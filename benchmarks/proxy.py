"""The floor of any Python proxy in front of the upstream: Starlette under uvicorn (the stack
``aixgo serve`` runs on, with httptools and uvloop when installed) forwarding each chat request to
the upstream with one pooled ``httpx.AsyncClient`` and passing the answer back, streamed or not. No
sessions, no agent, no ``openai`` client: what is left of ``aixgo serve``'s overhead above this
row is aixgo's.

``python -m benchmarks.proxy PORT UPSTREAM_BASE_URL``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def app(upstream: str) -> Starlette:
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
    client = httpx.AsyncClient(base_url=upstream, timeout=60, limits=limits)

    async def chat(request: Request) -> Response:
        body = await request.body()
        headers = {"content-type": "application/json"}
        upstream_request = client.build_request("POST", "/chat/completions", content=body, headers=headers)
        answer = await client.send(upstream_request, stream=True)
        if b'"stream": true' not in body and b'"stream":true' not in body:
            content = await answer.aread()
            await answer.aclose()
            return Response(content, status_code=answer.status_code, media_type="application/json")

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()

        return StreamingResponse(relay(), status_code=answer.status_code, media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, backlog=4096, timeout_keep_alive=75)
