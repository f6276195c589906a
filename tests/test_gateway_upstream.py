"""The gateway's pooled upstream connections against real loopback servers that answer as scripted."""

from __future__ import annotations

import asyncio

import pytest

from infra.gateway.upstream import Upstream, UpstreamError


async def serve(answers: list[bytes], close_after: bool = False):
    """A server that reads one request head (+ Content-Length body) per answer and writes the next answer."""
    seen: list[bytes] = []
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            seen.append(head + await reader.readexactly(length))
            writer.write(answers.pop(0))
            await writer.drain()
            if close_after:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen, connections


def run(coroutine):
    return asyncio.run(coroutine)


def test_requests_share_one_kept_alive_connection_and_carry_head_and_body():
    async def scenario():
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok"
        server, port, seen, connections = await serve([answer, answer])
        upstream = Upstream("127.0.0.1", port, 8)
        first = await upstream.request("POST", "/a%20b?x=1", [("X-Call-Id", "c1")], b"{}", 5)
        second = await upstream.request("GET", "/", [], b"", 5)
        upstream.close()
        server.close()
        return first, second, seen, connections[0]

    first, second, seen, connections = run(scenario())
    assert first == (200, [("Content-Length", "2"), ("X-A", "b")], b"ok") and second[2] == b"ok"
    assert connections == 1
    assert seen[0].startswith(b"POST /a%20b?x=1 HTTP/1.1\r\n") and b"X-Call-Id: c1\r\n" in seen[0]
    assert seen[0].endswith(b"Content-Length: 2\r\n\r\n{}")
    assert b"Content-Length" not in seen[1]


def test_chunked_and_connection_delimited_answers_are_read_whole():
    async def scenario():
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"
        server, port, _, _ = await serve([chunked, until_close])
        upstream = Upstream("127.0.0.1", port, 8)
        results = [(await upstream.request("GET", "/", [], b"", 5))[2] for _ in range(2)]
        server.close()
        return results

    assert run(scenario()) == [b"abcde", b"to the end"]


def test_a_connection_the_function_closed_while_idle_is_replaced():
    async def scenario():
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
        server, port, seen, connections = await serve([answer, answer], close_after=True)
        upstream = Upstream("127.0.0.1", port, 8)
        await upstream.request("GET", "/", [], b"", 5)
        second = await upstream.request("POST", "/", [], b"x", 5)
        server.close()
        return second, len(seen), connections[0]

    second, requests_seen, connections = run(scenario())
    assert second[2] == b"1" and requests_seen == 2 and connections == 2


def test_head_answers_end_at_their_headers():
    async def scenario():
        server, port, _, _ = await serve([b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"])
        status, headers, body = await Upstream("127.0.0.1", port, 8).request("HEAD", "/", [], b"", 5)
        server.close()
        return status, body

    assert run(scenario()) == (200, b"")


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b"not http\r\n\r\n"])
def test_broken_answers_are_upstream_errors(answer):
    async def scenario():
        server, port, _, _ = await serve([answer], close_after=True)
        try:
            await Upstream("127.0.0.1", port, 8).request("GET", "/", [], b"", 5)
        finally:
            server.close()

    with pytest.raises(UpstreamError):
        run(scenario())


def test_refused_is_an_upstream_error_and_silence_a_timeout():
    async def refused():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        await Upstream("127.0.0.1", port, 8).request("GET", "/", [], b"", 5)

    async def silent():
        async def hold(reader, writer):  # accepts, reads, never answers
            await reader.read()

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        try:
            await Upstream("127.0.0.1", server.sockets[0].getsockname()[1], 8).request("GET", "/", [], b"", 0.3)
        finally:
            server.close()

    with pytest.raises(UpstreamError, match="refused"):
        run(refused())
    with pytest.raises(TimeoutError):
        run(silent())


def test_a_header_with_a_line_break_is_refused_before_sending():
    with pytest.raises(UpstreamError, match="line break"):
        run(Upstream("127.0.0.1", 1, 8).request("GET", "/", [("X-A", "a\r\nX-Injected: 1")], b"", 5))


def test_calls_past_the_cap_wait_for_a_free_connection():
    async def scenario():
        in_flight, most = [0], [0]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.readuntil(b"\r\n\r\n"):
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
                await asyncio.sleep(0.05)
                in_flight[0] -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        upstream = Upstream("127.0.0.1", server.sockets[0].getsockname()[1], 2)
        answers = await asyncio.gather(*(upstream.request("GET", "/", [], b"", 5) for _ in range(6)))
        upstream.close()
        server.close()
        return answers, most[0]

    answers, most = run(scenario())
    assert [body for _, _, body in answers] == [b"ok"] * 6
    assert most == 2


def test_the_timeout_covers_a_kept_alive_connections_later_call_and_the_wait_for_a_slot():
    async def scenario():
        async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await reader.read()  # then silent, the connection kept open

        server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
        upstream = Upstream("127.0.0.1", server.sockets[0].getsockname()[1], 1)
        loop = asyncio.get_running_loop()
        try:
            assert (await upstream.request("GET", "/", [], b"", 0.3))[2] == b"ok"
            started = loop.time()  # the first call's deadline has not come yet: this one's is later
            silent = asyncio.ensure_future(upstream.request("GET", "/", [], b"", 0.6))  # same connection
            await asyncio.sleep(0.05)
            waiting = asyncio.ensure_future(upstream.request("GET", "/", [], b"", 0.1))  # no slot free
            outcomes = await asyncio.gather(silent, waiting, return_exceptions=True)
            return outcomes, loop.time() - started
        finally:
            upstream.close()
            server.close()

    (silent, waiting), elapsed = run(scenario())
    assert isinstance(silent, TimeoutError) and isinstance(waiting, TimeoutError)
    assert 0.58 <= elapsed < 1.5, f"timed out after {elapsed:.2f} s"


def test_a_connect_that_hangs_past_the_timeout_is_a_timeout_not_a_refusal(monkeypatch):
    async def scenario():
        async def hang(*args, **kwargs):
            await asyncio.sleep(30)

        monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", hang)
        await Upstream("127.0.0.1", 1, 8).request("GET", "/", [], b"", 0.2)

    with pytest.raises(TimeoutError):  # a 504; a refusal would have sent the call to the next replica
        run(scenario())
