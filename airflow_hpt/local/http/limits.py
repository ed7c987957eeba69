"""The HTTP layer's limits: bounded request bodies, a strict chunked decoder, timeouts, a connection cap.

Server library: werkzeug's threaded WSGI server, subclassed here. It hands the application the
socket's stream unread, so a front checks the signature before it reads a byte of the body; a server
that buffers whole bodies before calling the application (waitress spools up to 1 GB to disk first)
would read an unauthenticated upload in full. What the development server lacks is added here:

- Transfer-Encoding ``chunked`` is decoded by :class:`ChunkedInput` (strict chunk headers, a short
  read is an error), not werkzeug's ``DechunkedInput``, which grows without bound on a chunk that
  declares more bytes than arrive;
- a connection idle for ``IDLE_TIMEOUT_SECONDS`` (no request begun, or a stalled read or write) is
  closed, and one whose request line and headers are not complete ``HEADER_TIMEOUT_SECONDS`` after
  the request's first byte is shut down by one watchdog thread (slow headers);
- at most ``MAX_CONNECTIONS`` connections are served at once; past it a connection is answered
  503 at once and closed;
- the HTTP layer's own errors (a malformed request line, headers too long) are JSON, not HTML.

The body caps are each front's (``read_body(environ, cap)``): a declared Content-Length over the
cap is refused without reading, a chunked body once it passes the cap.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from airflow_hpt.local.http.errors import INTERNAL_FAILURE

# JSON APIs (SageMaker, Logs, CloudWatch, STS, the runtime's InvokeEndpoint payload is 6 MB on AWS)
MAX_JSON_BODY = 6 * 1024 * 1024
# S3's own documents (CreateBucket, DeleteObjects of 1,000 keys, CompleteMultipartUpload of 10,000 parts)
MAX_S3_DOCUMENT_BODY = 4 * 1024 * 1024
# S3: a single PUT and a part of a multipart upload are at most 5 GiB
MAX_S3_OBJECT_BODY = 5 * 1024**3
HEADER_TIMEOUT_SECONDS = 15.0
IDLE_TIMEOUT_SECONDS = 60.0
MAX_CONNECTIONS = 64
# chunk-size lines and trailer lines, and how many trailer lines
MAX_CHUNK_LINE = 4096
MAX_TRAILER_LINES = 64
READ_SIZE = 1 << 16
# An unread body up to this size is read and dropped after the answer (never held in memory): a
# client still sending it would otherwise get a connection reset instead of the answer, which
# botocore retries as a network fault. A larger one ends the connection unread.
MAX_DRAINED_BODY = 1024 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")

log = logging.getLogger(__name__)


class BodyError(Exception):
    """A request body refused: ``kind`` is ``too_large``, ``malformed`` or ``incomplete``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def too_large(cap: int) -> BodyError:
    return BodyError("too_large", f"The request body exceeds the local backend's limit of {cap} bytes.")


class ChunkedInput(io.RawIOBase):
    """The body of a ``Transfer-Encoding: chunked`` request, decoded strictly from ``rfile``."""

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile
        self._remaining = 0  # bytes left in the current chunk
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.done:
            return 0
        if self._remaining == 0:
            self._remaining = self._chunk_size()
            if self._remaining == 0:
                self._skip_trailer()
                self.done = True
                return 0
        wanted = min(len(buffer), self._remaining)
        data = _read_some(self._rfile, wanted)
        if not data:
            raise BodyError("incomplete", "The chunked body ended inside a chunk.")
        buffer[: len(data)] = data
        self._remaining -= len(data)
        if self._remaining == 0 and self._rfile.read(2) != b"\r\n":
            raise BodyError("malformed", "A chunk is not followed by CRLF.")
        return len(data)

    def _line(self) -> bytes:
        line = self._rfile.readline(MAX_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            if not line:
                raise BodyError("incomplete", "The chunked body ended before its last chunk.")
            raise BodyError("malformed", "A chunk line is too long or not terminated.")
        return bytes(line.rstrip(b"\r\n"))

    def _chunk_size(self) -> int:
        size = self._line().split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size):
            raise BodyError("malformed", f"Invalid chunk size {size[:20]!r}.")
        return int(size, 16)

    def _skip_trailer(self) -> None:
        for _ in range(MAX_TRAILER_LINES):
            if not self._line():
                return
        raise BodyError("malformed", "The chunked body's trailer is too long.")


class _LengthInput(io.RawIOBase):
    """A body of a declared Content-Length: reads never go past it; ``done`` once all is read."""

    def __init__(self, rfile: Any, length: int) -> None:
        self._rfile = rfile
        self._remaining = length

    @property
    def done(self) -> bool:
        return self._remaining == 0

    @property
    def remaining(self) -> int:
        return self._remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._remaining == 0:
            return 0
        data = _read_some(self._rfile, min(len(buffer), self._remaining))
        if not data:
            raise BodyError("incomplete", "The body is shorter than its Content-Length.")
        buffer[: len(data)] = data
        self._remaining -= len(data)
        return len(data)


def _read_some(rfile: Any, size: int) -> bytes:
    """Up to ``size`` bytes, as many as have arrived (at least one, unless the stream ended): a cap
    is enforced on what came, not after waiting for more."""
    read1 = getattr(rfile, "read1", None)
    return bytes(read1(size) if read1 is not None else rfile.read(size))


def declared_length(environ: dict[str, Any]) -> int | None:
    """The Content-Length of a request (``None``: chunked); a malformed one is refused."""
    if isinstance(environ.get("wsgi.input"), ChunkedInput):
        return None
    text = environ.get("CONTENT_LENGTH") or "0"
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise BodyError("malformed", f"Invalid Content-Length {text[:20]!r}.")
    return int(text)


def body_stream(environ: dict[str, Any], cap: int) -> io.RawIOBase:
    """The request body as a stream that refuses (:class:`BodyError`) to yield more than ``cap`` bytes.

    A declared length over ``cap`` is refused before anything is read.
    """
    length = declared_length(environ)
    if length is not None and length > cap:
        raise too_large(cap)
    stream = environ["wsgi.input"]
    if not isinstance(stream, ChunkedInput | _LengthInput):
        stream = _LengthInput(stream, length or 0)
    return _Capped(stream, cap)


class _Capped(io.RawIOBase):
    def __init__(self, stream: io.RawIOBase, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._left = cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._stream.readinto(buffer) or 0
        self._left -= count
        if self._left < 0:
            raise too_large(self._cap)
        return count


def read_body(environ: dict[str, Any], cap: int) -> bytes:
    """The whole body, at most ``cap`` bytes; afterwards ``environ`` serves it again (werkzeug's
    ``Request.get_data()`` reads the same bytes)."""
    stream = body_stream(environ, cap)
    parts = []
    while chunk := stream.read(READ_SIZE):
        parts.append(chunk)
    body = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ["airflow_hpt.body_read"] = True
    return body


def body_consumed(environ: dict[str, Any]) -> bool:
    """Whether the connection can carry another request: the body was read to its end."""
    if environ.get("airflow_hpt.body_read"):
        return True
    stream = environ.get("airflow_hpt.input")
    return stream is None or bool(getattr(stream, "done", False))


class Guarded:
    """The outermost WSGI application: closes the connection after a response to a request whose
    body was left unread (the next bytes are not a request), and answers a bug with a JSON 500
    rather than werkzeug's HTML page."""

    def __init__(self, app: Callable[[dict[str, Any], Any], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def guarded_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not body_consumed(environ) and not _drained(environ):
                headers = [*headers, ("Connection", "close")]
                # werkzeug reads what is left of a request (up to 10 GB) after answering it: an unread
                # body is not read, the connection ends after the answer
                with contextlib.suppress(OSError, KeyError):
                    environ["werkzeug.socket"].shutdown(socket.SHUT_RD)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, guarded_start)
        except BodyError as error:
            return _json_answer(environ, start_response, 400, "BadRequest", error.message)
        except Exception:
            log.exception("request failed")
            return _json_answer(environ, start_response, 500, INTERNAL_FAILURE, "The local backend failed.")


def _drained(environ: dict[str, Any]) -> bool:
    """Read and drop the rest of a small body of a declared length (see :data:`MAX_DRAINED_BODY`)."""
    stream = environ.get("airflow_hpt.input")
    if not isinstance(stream, _LengthInput) or stream.remaining > MAX_DRAINED_BODY:
        return False  # chunked (its length unknown), or too large to wait for
    sink = bytearray(READ_SIZE)
    try:
        while stream.readinto(sink):
            pass
    except (BodyError, OSError):
        return False
    return True


def _json_answer(
    environ: dict[str, Any], start_response: Any, status: int, code: str, message: str
) -> Iterable[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(body))),
        ("x-amzn-ErrorType", code),
        ("Connection", "close"),
    ]
    start_response(f"{status} {code}", headers)
    return [body]


class HeaderDeadlines:
    """One thread shutting down the connections whose request line and headers are late."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._pending: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="local-sagemaker-headers", daemon=True)
        self._thread.start()

    def expect(self, connection: socket.socket) -> None:
        with self._lock:
            self._pending[connection] = time.monotonic() + self.seconds

    def arrived(self, connection: socket.socket) -> None:
        with self._lock:
            self._pending.pop(connection, None)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopped.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [connection for connection, deadline in self._pending.items() if deadline < now]
                for connection in late:
                    del self._pending[connection]
            for connection in late:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


_BUSY = json.dumps(
    {"__type": "ServiceUnavailable", "message": "The local backend is serving too many connections."}
).encode()


class LimitedServer(ThreadedWSGIServer):
    """werkzeug's threaded server with a connection cap (503 past it) and header deadlines."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable[[dict[str, Any], Any], Iterable[bytes]],
        max_connections: int = MAX_CONNECTIONS,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(host, port, Guarded(app), handler=LimitedHandler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.deadlines = HeaderDeadlines(header_timeout)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.arrived(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self.deadlines.stop()


def _refuse_busy(connection: socket.socket) -> None:
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/x-amz-json-1.1\r\n"
        f"x-amzn-ErrorType: ServiceUnavailable\r\nRetry-After: 1\r\nContent-Length: {len(_BUSY)}\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        connection.settimeout(1.0)
        connection.sendall(head.encode() + _BUSY)
    except OSError:
        pass


class LimitedHandler(WSGIRequestHandler):
    """HTTP/1.1 (chunked bodies; werkzeug still answers each request with ``Connection: close``, so a
    connection serves one request), no log line per request (pollers call many times a second),
    timeouts, the strict chunked decoder, JSON errors."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    error_content_type = "application/x-amz-json-1.1"
    error_message_format = '{"__type": "BadRequest", "message": "HTTP error %(code)d"}'
    server: LimitedServer

    # a request line without a version is answered with a status line and headers, not as HTTP/0.9
    default_request_version = "HTTP/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # an unknown HTTP version is a malformed request like any other: 400, not 505
        super().send_error(400 if code == 505 else code, message, explain)

    def handle_one_request(self) -> None:
        # idle (a connection that has not begun its request) for up to IDLE_TIMEOUT_SECONDS; from
        # the request's first byte, its line and headers have HEADER_TIMEOUT_SECONDS
        if not self._request_begun():
            self.close_connection = True
            return
        self.server.deadlines.expect(self.connection)
        try:
            super().handle_one_request()
        finally:
            self.server.deadlines.arrived(self.connection)

    def _request_begun(self) -> bool:
        """Whether a request's first byte (or the end of the stream) came within the idle timeout."""
        self.connection.settimeout(0)
        try:
            buffered = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError:
            buffered = b""
        finally:
            self.connection.settimeout(self.timeout)
        if buffered:
            return True
        # not select.select: a backend running hundreds of training jobs holds over 1024 files,
        # and select() cannot watch a descriptor numbered past that
        with selectors.DefaultSelector() as selector:
            selector.register(self.connection, selectors.EVENT_READ)
            return bool(selector.select(self.timeout))

    def make_environ(self) -> dict[str, Any]:
        self.server.deadlines.arrived(self.connection)
        environ = super().make_environ()
        if environ.get("wsgi.input_terminated"):  # Transfer-Encoding: chunked
            stream: io.RawIOBase = ChunkedInput(self.rfile)
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # refused by the front (declared_length)
            stream = _LengthInput(self.rfile, max(length, 0))
        environ["wsgi.input"] = environ["airflow_hpt.input"] = stream
        return environ
