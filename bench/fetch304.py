"""The cost of one conditional GET answered 304: N fetches through `HttpFetcher` (concurrency 4, the
stored ETag sent) against the generated-feed server of bench/loopback.py in a process of its own.

    .venv/bin/python bench/fetch304.py [--feeds 200] [--cycles 7]

Prints the median and the fastest cycle and the time per request (bench/README.md, "Speed levers").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = """
import sys
sys.path.insert(0, sys.argv[2])
from loopback import FeedServer
with FeedServer(int(sys.argv[1])) as s:
    s.namespace("a")
    print(s.httpd.server_address[1], flush=True)
    sys.stdin.read()
"""


async def cycles(port: int, feeds: int, count: int) -> list[float]:
    from bot.sources.http import HttpFetcher, Validators

    urls = [f"http://127.0.0.1:{port}/a/{i}.atom" for i in range(feeds)]
    async with HttpFetcher(user_agent="bench", concurrency=4) as fetcher:
        first = await asyncio.gather(*(fetcher.fetch(u, source="b") for u in urls))
        previous = [r.validators for r in first]

        async def one(i: int) -> bool:
            result = await fetcher.fetch(urls[i], source="b", previous=Validators(etag=previous[i].etag))
            return result.not_modified

        times = []
        for _ in range(count):
            started = time.perf_counter()
            answers = await asyncio.gather(*(one(i) for i in range(feeds)))
            times.append(time.perf_counter() - started)
            assert all(answers), "every feed should answer 304"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.feeds), str(HERE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        try:
            times = asyncio.run(cycles(port, args.feeds, args.cycles))
        finally:
            server.stdin.close()
    median = statistics.median(times)
    print(
        f"{args.feeds} conditional GETs answered 304: median {median * 1000:.0f} ms, fastest "
        f"{min(times) * 1000:.0f} ms, {median / args.feeds * 1e6:.0f} µs per request ({args.cycles} cycles)"
    )


if __name__ == "__main__":
    main()
