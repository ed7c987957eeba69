"""botocore's data files parsed in steps (airflow_hpt/triggers/data_files.py): the same data as
botocore's own parse, and no single C call that decodes more than a sliver of a big file."""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from airflow_hpt.triggers import data_files
from airflow_hpt.triggers.data_files import SteppedJSONFileLoader, loads_in_steps

DATA = Path(botocore.loaders.Loader.BUILTIN_DATA_PATH)
SAGEMAKER_MODEL = DATA / "sagemaker" / "2017-07-24" / "service-2"
ENDPOINTS = DATA / "endpoints"


def _text(path: Path) -> str:
    plain = path.with_name(path.name + ".json")
    if plain.exists():
        return plain.read_text(encoding="utf-8")
    return gzip.decompress(path.with_name(path.name + ".json.gz").read_bytes()).decode("utf-8")


def _same(stepped: Any, whole: Any) -> None:
    """Equal, and of the same types all the way down (OrderedDict where botocore has one)."""
    assert type(stepped) is type(whole)
    assert stepped == whole
    if isinstance(whole, dict):
        assert list(stepped) == list(whole)
        for key in whole:
            _same(stepped[key], whole[key])
    elif isinstance(whole, list):
        for stepped_item, whole_item in zip(stepped, whole, strict=True):
            _same(stepped_item, whole_item)


@pytest.mark.parametrize("path", [SAGEMAKER_MODEL, ENDPOINTS, DATA / "partitions", DATA / "_retry"])
def test_botocores_data_files_parse_to_what_botocore_parses(path: Path) -> None:
    text = _text(path)
    _same(loads_in_steps(text), json.loads(text, object_pairs_hook=OrderedDict))


def test_the_loader_reads_plain_and_compressed_files_as_botocore_does() -> None:
    ours, botocores = SteppedJSONFileLoader(), botocore.loaders.JSONFileLoader()
    for path in (SAGEMAKER_MODEL, ENDPOINTS):  # compressed, plain
        _same(ours.load_file(str(path)), botocores.load_file(str(path)))
    assert ours.load_file(str(DATA / "no-such-file")) is None


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        " \n{ } \t",
        '{"a": [1, {"b": [], "c": {}}, "x"], "d": null, "e": true, "f": -1.5e3}',
        '[[[[[["deep"]]]]], {"k": {"k": {"k": {"k": {"k": 1}}}}}]',
        '{"\\u00e9t\\u00e9": "caf\\u00e9 \\"quoted\\"", "dup": 1, "dup": 2}',
        '"a bare string"',
        "42",
    ],
)
def test_any_document_parses_as_json_loads_does(text: str) -> None:
    _same(loads_in_steps(text), json.loads(text, object_pairs_hook=OrderedDict))


@pytest.mark.parametrize(
    "text",
    ['{"a": 1} x', '{"a" 1}', '{"a": 1,}', "[1 2]", '{"a": [1, 2}', "{1: 2}", "", "[", '{"a": 1'],
)
def test_malformed_documents_are_refused_as_json_loads_refuses_them(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        loads_in_steps(text)


class _RecordingDecoder(json.JSONDecoder):
    """Records how many characters each C decode covers: the GIL is held that long."""

    spans: list[int]

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        value, end = super().raw_decode(s, idx)
        self.spans.append(end - idx)
        return value, end


@pytest.mark.parametrize("path", [SAGEMAKER_MODEL, ENDPOINTS])
def test_no_c_call_decodes_more_than_a_sliver_of_a_big_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = _RecordingDecoder(object_pairs_hook=OrderedDict)
    recording.spans = []
    monkeypatch.setattr(data_files, "_DECODER", recording)
    text = _text(path)
    loads_in_steps(text)
    # a whole-file json.loads is one C call over 100% of the text
    assert len(text) > 1_000_000
    assert max(recording.spans) < len(text) // 50
