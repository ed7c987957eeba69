"""The model server of one endpoint, a process of its own: ``python -m airflow_hpt.local.hosting.serving``.

It does for one model what a SageMaker framework serving container does: unpack ``model.tar.gz``
into ``$SAGEMAKER_BASE_DIR/model``, put the inference code on ``sys.path`` (the submit directory,
unpacked into ``$SAGEMAKER_BASE_DIR/code``, else ``model/code``), and answer ``GET /ping`` and
``POST /invocations`` through AWS's own ``sagemaker-inference`` toolkit: its ``Transformer`` finds
``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn`` (or ``transform_fn``) in the module
named by ``SAGEMAKER_PROGRAM`` (default ``inference.py``) and fills the gaps with the defaults of
the scikit-learn container (:class:`ScikitLearnDefaults`).

The toolkit is written for AWS's Java model server (MMS), which hands it a request ``context``;
:class:`InferenceContext` is that context, with MMS's method names, so handlers that take a
``context`` argument read request headers (``X-Amzn-SageMaker-Custom-Attributes``) and set response
ones as they would in the container. The listening socket is made by the backend and inherited
(``--socket-fd``): requests queue in its backlog while the model loads, and it closes when this
process dies, so the backend sees a dead server as a refused connection, never as a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tarfile
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from sagemaker_inference import content_types, decoder
from sagemaker_inference.default_inference_handler import DefaultInferenceHandler
from sagemaker_inference.transformer import Transformer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

# where a serving container's paths start: SAGEMAKER_BASE_DIR stands for it here
CONTAINER_ROOT = "/opt/ml/"


class ScikitLearnDefaults(DefaultInferenceHandler):
    """The defaults of AWS's scikit-learn serving container (its ``HandlerService``): no default
    ``model_fn`` (the toolkit's raises "Please provide a model_fn implementation"); CSV and JSON
    bodies decoded to float32 arrays; ``model.predict``; the toolkit's encoders for the answer."""

    def default_input_fn(self, input_data: Any, content_type: str, context: Any = None) -> Any:
        array = decoder.decode(input_data, content_type)
        return array.astype(np.float32) if content_type in content_types.UTF8_TYPES else array

    def default_predict_fn(self, data: Any, model: Any, context: Any = None) -> Any:
        return model.predict(data)


class RequestProcessor:
    """One request's headers and the answer's status and headers, as MMS's request processor."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._request = headers
        self.response_headers: dict[str, str] = {}
        self.status = 200
        self.reason = ""

    def get_request_properties(self) -> dict[str, str]:
        return self._request

    def get_request_property(self, key: str) -> str | None:
        return next((value for name, value in self._request.items() if name.lower() == key.lower()), None)

    def add_response_property(self, key: str, value: str) -> None:
        self.response_headers[key] = value

    def report_status(self, code: int, reason: str = "") -> None:
        self.status, self.reason = code, reason


class InferenceContext:
    """The ``context`` the toolkit and the user's handlers get: MMS's ``Context`` for a batch of one."""

    def __init__(self, model_dir: Path) -> None:
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None, "batch_size": 1}
        self.request_processor = [RequestProcessor({})]

    def begin(self, headers: dict[str, str]) -> None:
        self.request_processor = [RequestProcessor(headers)]

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_processor[idx].get_request_property(key)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.request_processor[idx].get_request_properties()

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.request_processor[idx].add_response_property(key, value)

    def get_response_headers(self, idx: int) -> dict[str, str]:
        return self.request_processor[idx].response_headers

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.set_response_header(idx, "Content-Type", value)

    def get_response_content_type(self, idx: int) -> str | None:
        return self.get_response_headers(idx).get("Content-Type")

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.request_processor[idx].report_status(code, phrase)

    def get_response_status(self, idx: int) -> int:
        return self.request_processor[idx].status


class ModelServer:
    """The WSGI application: ``GET /ping`` and ``POST /invocations``, one inference at a time
    (the toolkit keeps one context per worker, as MMS serves one batch at a time per worker)."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.context = InferenceContext(model_dir)
        self.transformer = Transformer(default_inference_handler=ScikitLearnDefaults())
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model before the first request, as MMS's worker start does.

        A failure is logged and not fatal: the toolkit tries again on each request and answers
        with the error and its traceback, which the client gets as a ModelError.
        """
        try:
            self.transformer.validate_and_initialize(model_dir=str(self.model_dir), context=self.context)
        except Exception:
            print("Loading the model failed; every invocation will retry it:", file=sys.stderr)
            traceback.print_exc()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/ping" and request.method == "GET":
            response = Response(b"", status=200)
        elif request.path == "/invocations" and request.method == "POST":
            response = self._invoke(request)
        else:
            response = Response(b"not found", status=404)
        return response(environ, start_response)

    def _invoke(self, request: Request) -> Response:
        headers = dict(request.headers.items())
        with self._lock:
            self.context.begin(headers)
            answers = self.transformer.transform([{"body": request.get_data()}], self.context)
            processor = self.context.request_processor[0]
            response_headers = dict(processor.response_headers)
            status = processor.status
        return Response(_as_bytes(answers[0]), status=status, headers=response_headers)


def _as_bytes(answer: Any) -> bytes:
    """A handler's answer as MMS sends it: bytes as they are, text in UTF-8, anything else as JSON."""
    if isinstance(answer, bytes | bytearray):
        return bytes(answer)
    if isinstance(answer, str):
        return answer.encode("utf-8")
    return json.dumps(answer).encode("utf-8")


def unpack(source: Path, target: Path) -> None:
    """Copy a folder, or extract a tar archive, into ``target`` (tar members may not leave it)."""
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        return
    with tarfile.open(source, "r:*") as archive:
        archive.extractall(target, filter="data")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one model as a SageMaker serving container does.")
    parser.add_argument("--socket-fd", type=int, required=True, help="an inherited, listening socket")
    parser.add_argument("--base-dir", type=Path, required=True, help="this server's /opt/ml")
    parser.add_argument("--model-archive", type=Path, help="the model.tar.gz to serve")
    parser.add_argument("--submit-directory", type=Path, help="the inference code: a folder or a tar.gz")
    args = parser.parse_args(argv)
    model_dir = args.base_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    if args.model_archive is not None:
        unpack(args.model_archive, model_dir)
    code_dir = model_dir / "code"
    container_path = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if args.submit_directory is not None:
        code_dir = args.base_dir / "code"
        unpack(args.submit_directory, code_dir)
    elif container_path.startswith(CONTAINER_ROOT):
        code_dir = args.base_dir / container_path.removeprefix(CONTAINER_ROOT)
    sys.path.insert(0, str(code_dir))
    application = ModelServer(model_dir)
    application.load()
    server = make_server("127.0.0.1", 0, application, threaded=True, fd=args.socket_fd)

    def on_term(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    print(f"Serving {model_dir} (code: {code_dir}, pid {os.getpid()})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
