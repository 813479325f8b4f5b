"""A webhook receiver on loopback: records every request, answers what the test scripts."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow receiver, a timeout)
    body: bytes = b""  # such as Slack's `ok` or `invalid_payload`


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes
    path: str = ""  # the request's target


class Receiver:
    """Answers 200 unless `script` holds answers (taken in order, one per request)."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.received: list[Received] = []
        self.accepted: list[Received] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            target = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            answer = self.script.popleft() if self.script else Answer()
            request = Received(headers, body, target)
            self.received.append(request)
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if 200 <= answer.status < 300:
                self.accepted.append(request)
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            writer.write(
                f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(answer.body)}\r\n"
                f"connection: close\r\n{extra}\r\n".encode()
                + answer.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def receiving(port: int = 0) -> AsyncIterator[Receiver]:
    """Serve a `Receiver` on 127.0.0.1 (`port`, or an ephemeral one)."""
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{bound}/hooks/s3cr3t-path"
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()
