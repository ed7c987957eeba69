"""The gist of a model server's error body, for the messages of InvokeEndpoint and transform jobs."""

from __future__ import annotations

import re

# a traceback line naming a frame: File "<path>", line <n>, in <function>
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
# frames of the serving machinery, skipped when naming where an error came from
MACHINERY = ("sagemaker_inference", "airflow_hpt", "site-packages", "/lib/python")


def summarize(message: str) -> str:
    """The gist of a model server's error body: its first line, and for a traceback, the exception
    raised and the deepest frame in the inference code (``inference.py, line 7, in model_fn``)."""
    lines = [line for line in message.splitlines() if line.strip()]
    if not lines:
        return "(empty answer)"
    frame_lines = [index for index, line in enumerate(lines) if FRAME.match(line)]
    if not frame_lines:
        return lines[0].strip()
    frames = [match for index in frame_lines if (match := FRAME.match(lines[index])) is not None]
    # after the last frame: its indented source line, then "Type: text" (text maybe on the next line)
    rest = [line.strip() for line in lines[frame_lines[-1] + 1 :] if not line.startswith(" ")]
    exception = " ".join(rest[:2]) if rest and rest[0].endswith(":") else (rest or [lines[0]])[0]
    user_frames = [frame for frame in frames if not any(part in frame["path"] for part in MACHINERY)]
    where = (user_frames or frames)[-1]
    file_name = where["path"].rsplit("/", 1)[-1]
    return f"{exception} ({file_name}, line {where['line']}, in {where['function']})"
