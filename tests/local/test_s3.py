"""LocalS3: URI <-> path mapping, uploads, and URIs that try to leave the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_hpt.local.s3.paths import LocalS3


@pytest.fixture
def s3(tmp_path: Path) -> LocalS3:
    return LocalS3(tmp_path)


def test_s3_uri_maps_under_home(s3: LocalS3, tmp_path: Path) -> None:
    root = tmp_path.resolve() / "s3"
    assert s3.path_for("s3://bucket/a/b.csv") == root / "bucket" / "a" / "b.csv"
    assert s3.path_for("s3://bucket") == root / "bucket"
    assert s3.path_for("s3://bucket/prefix/") == root / "bucket" / "prefix"


def test_uri_for_is_the_inverse(s3: LocalS3) -> None:
    for uri in ("s3://bucket/a/b.csv", "s3://bucket", "s3://my-bucket/deep/er/key.tar.gz"):
        assert s3.uri_for(s3.path_for(uri)) == uri


def test_uri_for_rejects_paths_outside_the_store(s3: LocalS3, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not inside"):
        s3.uri_for(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="root"):
        s3.uri_for(s3.root)


def test_file_uri_and_absolute_path(s3: LocalS3, tmp_path: Path) -> None:
    assert s3.path_for(f"file://{tmp_path}/code") == tmp_path.resolve() / "code"
    assert s3.path_for(str(tmp_path / "code")) == tmp_path.resolve() / "code"
    trusting_tmp = LocalS3(tmp_path, code_roots=[tmp_path, "/tmp"])
    assert trusting_tmp.path_for("file://localhost/tmp/x%20y") == Path("/tmp/x y").resolve()


def test_code_folders_lie_inside_the_trusted_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    s3 = LocalS3(tmp_path / "home", code_roots=[tmp_path / "home", project])
    assert s3.path_for(f"file://{project}/training") == project.resolve() / "training"
    assert s3.path_for(f"{tmp_path}/home/code") == (tmp_path / "home" / "code").resolve()
    for refused, rule in [
        ("file:///", "file system's root"),
        ("/", "file system's root"),
        (f"file://{tmp_path}", "hold the home"),  # its snapshot would copy the store into itself
        (f"file://{project}", "inside a trusted code root"),  # a root itself, not a folder in it
        (f"file://{tmp_path}/elsewhere", "inside a trusted code root"),
        ("file:///etc", "inside a trusted code root"),
    ]:
        with pytest.raises(ValueError, match=rule):
            s3.path_for(refused)
    # the default: the home and the current folder (the project the backend runs in), and the
    # folders of AIRFLOW_HPT_LOCAL_CODE_ROOTS
    monkeypatch.delenv("AIRFLOW_HPT_LOCAL_CODE_ROOTS", raising=False)
    default = LocalS3(tmp_path / "home")
    assert default.code_roots == ((tmp_path / "home").resolve(), Path.cwd().resolve())
    monkeypatch.setenv("AIRFLOW_HPT_LOCAL_CODE_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    extended = LocalS3(tmp_path / "home")
    assert extended.code_roots[2:] == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
    assert extended.path_for(f"file://{tmp_path}/b/code") == (tmp_path / "b" / "code").resolve()


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/../../x",
        "s3://bucket/a/../../other/x",
        "s3://bucket//etc/passwd",
        "s3:///key",
        "s3://../key",
        "s3://./key",
        "file://remote-host/etc/passwd",
        "relative/path",
        "http://bucket/key",
    ],
)
def test_escaping_or_malformed_uris_are_rejected(s3: LocalS3, uri: str) -> None:
    with pytest.raises(ValueError, match=r"'.*'"):
        s3.path_for(uri)


def test_symlink_out_of_the_bucket_is_rejected(s3: LocalS3, tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    bucket = s3.path_for("s3://bucket")
    bucket.mkdir(parents=True)
    (bucket / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match="outside its bucket"):
        s3.path_for("s3://bucket/link/file")


def test_upload_file_and_directory(s3: LocalS3, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.txt").write_text("b")

    s3.upload(source, "s3://bucket/tree")
    assert s3.path_for("s3://bucket/tree/sub/b.txt").read_text() == "b"
    s3.upload(source / "a.txt", "s3://bucket/files/")
    assert s3.path_for("s3://bucket/files/a.txt").read_text() == "a"
    s3.upload(source / "a.txt", "s3://bucket/renamed.txt")
    assert s3.path_for("s3://bucket/renamed.txt").read_text() == "a"
