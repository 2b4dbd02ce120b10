"""A fast fake OpenAI-compatible upstream for load benchmarks: asyncio (Starlette under uvicorn), so it
answers hundreds of concurrent requests after a fixed delay without becoming the bottleneck itself.

``python -m benchmarks.upstream PORT DELAY_SECONDS``."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ANSWER = ["the ", "answer, ", "in ", "a ", "few ", "words"]


def app(delay: float) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(delay)
        base = {"id": "chatcmpl-bench", "created": int(time.time()), "model": body.get("model", "m")}
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(ANSWER)}
            return JSONResponse({**base, "object": "chat.completion", "usage": usage,
                                 "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

        async def events():  # type: ignore[no-untyped-def]
            for piece in ANSWER:
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
                await asyncio.sleep(0.005)
            end = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app(float(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, backlog=4096, timeout_keep_alive=75)
