"""What an MCP tool's result becomes: the text the model reads and the ``output`` stored with it —
text, structured content and resource links as the server sent them; large text and images bounded,
with what was cut said in both."""

from __future__ import annotations

import sys
from pathlib import Path

from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec
from tests.agents.mcp.conftest import SERVER, toolset
from tests.agents.mcp.test_connection import call


def spec(runs: Path, **limits: int) -> MCPServerSpec:
    return MCPServerSpec.stdio("files", sys.executable, [SERVER, "--runs", str(runs)], **limits)  # type: ignore[arg-type]


def test_structured_content_is_stored_and_the_model_reads_the_text(hub: MCPHub, runs: Path) -> None:
    result = call(toolset(hub, spec(runs)), "add", a=2, b=3)
    assert not result.is_error and '"sum": 5' in result.content
    assert result.details is not None
    assert result.details["structured_content"] == {"sum": 5}
    assert result.details["content"] == [{"type": "text", "text": result.content}]
    assert (result.details["server"], result.details["tool"]) == ("files", "add")
    assert result.message_fields() == {"output": dict(result.details)}


def test_resource_links_and_embedded_resources_are_kept_as_sent(hub: MCPHub, runs: Path) -> None:
    result = call(toolset(hub, spec(runs)), "links")
    assert result.content.splitlines() == [
        "[resource link: report.csv <file:///srv/report.csv> (text/csv): the monthly report]",
        "[resource <file:///srv/notes.txt>]",
        "remember the milk",
    ]
    assert result.details is not None
    link, embedded = result.details["content"]
    assert link == {"type": "resource_link", "uri": "file:///srv/report.csv", "name": "report.csv",
                    "mimeType": "text/csv", "description": "the monthly report"}
    assert embedded["resource"] == {"uri": "file:///srv/notes.txt", "mimeType": "text/plain",
                                    "text": "remember the milk"}


def test_a_large_text_is_cut_and_says_so_in_what_the_model_reads_and_what_is_stored(
    hub: MCPHub, runs: Path
) -> None:
    result = call(toolset(hub, spec(runs, max_result_chars=1000)), "big", chars=50_000)
    assert result.content == "x" * 1000 + "\n… [truncated: 49000 more characters]"
    assert result.details is not None
    block = result.details["content"][0]
    assert block["text"] == "x" * 1000 and block["truncated"] == 49_000
    assert result.details["cut"] == [  # the SDK's server also sends the text as structured content
        "block 0 (text): 49,000 of 50,000 characters cut",
        "structured content: 50,014 characters of JSON, more than 1,000: not stored",
    ]
    assert "structured_content" not in result.details


def test_an_image_is_stored_when_small_and_left_out_when_large(hub: MCPHub, runs: Path) -> None:
    tools = toolset(hub, spec(runs, max_image_bytes=10_000))
    small = call(tools, "image", size=2_000)
    assert small.content == "a picture\n[image: image/png, 2,000 bytes; not shown to the model]"
    assert small.details is not None and len(small.details["content"][1]["data"]) > 2_000  # base64, kept
    large = call(tools, "image", size=300_000)
    assert large.content == "a picture\n[image: image/png, 300,000 bytes; not stored: too large]"
    assert large.details is not None
    image = large.details["content"][1]
    assert "data" not in image and image["size"] == 300_000 and image["mimeType"] == "image/png"
    assert large.details["cut"][0] == ("block 1 (image, image/png): 300,000 bytes, more than max_image_bytes "
                                       "(10,000): not stored")
