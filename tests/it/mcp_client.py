"""An agent's MCP session with `prgate mcp`, driven by the official MCP Python SDK (the `mcp`
package from PyPI), against the simulator and a running gate (tests/it/mcp_server.rs).

The loop: list the tools; propose a change; see it pending; a designated human approves it
through the simulator's API as that user; wait for the decision (with progress
notifications) and have it explained; then a second proposal that a reviewer denies, whose
reason comes back. Prints one JSON object of what it saw; any surprise is an AssertionError.
"""

import asyncio
import json
import os
import sys
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ENV = os.environ
API = ENV["PRGATE_TEST_API_URL"]
REPO = ENV["PRGATE_TEST_REPO"]


def review(token, pull, event, body):
    """A human's review, posted as that user through the simulator's REST API."""
    req = urllib.request.Request(
        f"{API}/repos/{REPO}/pulls/{pull}/reviews",
        data=json.dumps({"event": event, "body": body}).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status


def structured(result, tool):
    assert not result.is_error, f"{tool} failed: {result.structured_content or result.content}"
    assert result.structured_content is not None, f"{tool}: no structured content"
    return result.structured_content


async def main():
    server = StdioServerParameters(
        command=ENV["PRGATE_BIN"],
        args=["mcp"],
        env={
            "PRGATE_API_URL": API,
            "PRGATE_GITHUB_TOKEN": ENV["PRGATE_TEST_AGENT_TOKEN"],
            "PRGATE_LOG": "warn",
        },
        cwd=ENV["PRGATE_TEST_WORKTREE"],
    )
    seen = {}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            seen["tools"] = sorted(tools)
            for t in tools.values():
                assert t.output_schema and t.output_schema.get("type") == "object", t.name

            # Bad input is an error result in the CLI's shape, not a crash.
            bad = await session.call_tool("get_status", {"pull": "not a pull"})
            assert bad.is_error, bad
            seen["bad_input"] = bad.structured_content

            # 1. Propose: the firewall rule needs alice (or acme/netops).
            p = structured(
                await session.call_tool(
                    "propose_change",
                    {
                        "title": "Open port 8443",
                        "paths": ["firewall/rules.toml"],
                        "reason": "ticket NET-7",
                    },
                ),
                "propose_change",
            )
            pull = p["pull"]
            seen["proposal"] = p

            # 2. Pending, by its URL as the agent got it.
            s = structured(await session.call_tool("get_status", {"pull": p["url"]}), "get_status")
            assert s["state"] == "pending", s
            seen["pending"] = s

            # 3. A designated human approves, as themselves.
            review(ENV["PRGATE_TEST_APPROVER_TOKEN"], pull, "APPROVE", "looks right")

            # 4. The decision arrives while the agent waits, with progress on the way.
            progress = []

            async def on_progress(value, total, message):
                progress.append({"progress": value, "message": message})

            w = structured(
                await session.call_tool(
                    "wait_for_decision",
                    {"pull": f"{REPO}#{pull}", "until": "merged", "timeout": "60s"},
                    progress_callback=on_progress,
                ),
                "wait_for_decision",
            )
            assert w["state"] in ("merged", "executed"), w
            assert w["timed_out"] is False, w
            seen["decided"] = w
            seen["progress"] = progress

            e = structured(
                await session.call_tool("explain_decision", {"pull": f"{REPO}#{pull}"}),
                "explain_decision",
            )
            seen["explained"] = e

            # 5. A second change, which a reviewer denies with a reason.
            with open(os.path.join(ENV["PRGATE_TEST_WORKTREE"], "firewall/rules.toml"), "w") as f:
                f.write("allow = [0]\n")
            d = structured(
                await session.call_tool(
                    "propose_change",
                    {"title": "Open everything", "paths": ["firewall/rules.toml"]},
                ),
                "propose_change",
            )
            review(ENV["PRGATE_TEST_DENIER_TOKEN"], d["pull"], "REQUEST_CHANGES", "port 0 opens everything; no")
            denied = structured(
                await session.call_tool(
                    "wait_for_decision", {"pull": d["url"], "timeout": "60s"}
                ),
                "wait_for_decision",
            )
            seen["denied"] = denied
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
