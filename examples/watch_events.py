"""Watch Paperchain's live events: python examples/watch_events.py KEY [TOPIC ...] [--since N]

Connects to ws://127.0.0.1:8080/api/v1/events (set PAPERCHAIN_URL to change it), authenticates
with an API key or access token, subscribes to the topics (default: runs) and prints each
CloudEvent as one line. Ctrl-C stops; run again with --since <last sequence> to miss nothing.
"""

import argparse
import asyncio
import json
import os

import aiohttp


async def watch(key: str, topics: list[str], since: int | None) -> None:
    url = os.environ.get("PAPERCHAIN_URL", "http://127.0.0.1:8080").replace("http", "ws", 1) + "/api/v1/events"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"type": "auth", "token": key})
        await ws.send_json({"type": "subscribe", "topics": topics, **({"since": since} if since is not None else {})})
        async for message in ws:
            event = json.loads(message.data)
            if "specversion" in event:
                step = event["data"].get("step")
                print(f'{event["sequence"]:>6} {event["time"]} {event["type"].removeprefix("io.paperchain.")}'
                      f' {event["subject"]}{" " + step if step else ""}', flush=True)
            elif event.get("type") == "error":
                print("error:", event["message"], flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("key")
    parser.add_argument("topics", nargs="*", default=["runs"])
    parser.add_argument("--since", type=int)
    args = parser.parse_args()
    try:
        asyncio.run(watch(args.key, args.topics, args.since))
    except KeyboardInterrupt:
        pass
