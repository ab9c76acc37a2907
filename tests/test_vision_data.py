"""Vision data: CIFAR readers (python and binary, CIFAR-10 and -100), the restricted
unpickler, downloads from local URLs, the synthetic set, and batch augmentations."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import pickletools
import subprocess
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import cmd, run_trm
from trm.errors import TRMError
from vision import augment as aug
from vision.cifar import PIXELS, load_images
from vision.download import download, extract_tar
from vision.pickles import ALLOWED_GLOBALS, write_python_pickle
from vision.synthetic import MAX_CLASSES, class_factors, class_names, generate, write_synthetic

CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


# --------------------------------------------------------------------------- fake CIFAR files


def fake(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, classes, n).astype(np.int64),
    )


def cifar10_parts(sizes=(3, 2, 4, 1, 2), test=3):
    parts = [fake(n, 10, i) for i, n in enumerate(sizes)]
    return parts, fake(test, 10, 99)


def write_cifar10_python(folder: Path, parts, test, names=CIFAR10_NAMES, dump=None) -> Path:
    dump = dump or write_python_pickle
    folder.mkdir(parents=True, exist_ok=True)
    for i, (images, labels) in enumerate(parts, 1):
        dump(
            folder / f"data_batch_{i}",
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": labels.tolist(),
                b"data": images.reshape(len(images), -1),
                b"filenames": [f"img_{i}_{k}.png".encode() for k in range(len(images))],
            },
        )
    dump(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test[1].tolist(),
            b"data": test[0].reshape(len(test[0]), -1),
            b"filenames": [b"t.png"] * len(test[0]),
        },
    )
    dump(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": 10000,
            b"label_names": [n.encode() for n in names],
            b"num_vis": 3072,
        },
    )
    return folder


def write_cifar10_binary(folder: Path, parts, test, names=CIFAR10_NAMES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in [(f"data_batch_{i}.bin", p) for i, p in enumerate(parts, 1)] + [
        ("test_batch.bin", test)
    ]:
        rec = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], 1)
        (folder / name).write_bytes(rec.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")  # as the official file
    return folder


def cifar100_data(n_train=5, n_test=3):
    out = {}
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, fine = fake(n, 100, seed)
        out[split] = (images, fine, np.random.default_rng(seed + 10).integers(0, 20, n))
    return out, [f"fine{i}" for i in range(100)], [f"coarse{i}" for i in range(20)]


def write_cifar100_python(folder: Path, data, fine, coarse, dump=None) -> Path:
    dump = dump or write_python_pickle
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, f, c) in data.items():
        dump(
            folder / split,
            {
                b"filenames": [b"x.png"] * len(images),
                b"batch_label": b"b",
                b"fine_labels": f.tolist(),
                b"coarse_labels": c.tolist(),
                b"data": images.reshape(len(images), -1),
            },
        )
    dump(
        folder / "meta",
        {
            b"fine_label_names": [n.encode() for n in fine],
            b"coarse_label_names": [n.encode() for n in coarse],
        },
    )
    return folder


def write_cifar100_binary(folder: Path, data, fine, coarse) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, f, c) in data.items():
        rec = np.concatenate(
            [
                c.astype(np.uint8)[:, None],
                f.astype(np.uint8)[:, None],
                images.reshape(len(images), -1),
            ],
            1,
        )
        (folder / f"{split}.bin").write_bytes(rec.tobytes())
    (folder / "fine_label_names.txt").write_text("\n".join(fine) + "\n")
    (folder / "coarse_label_names.txt").write_text("\n".join(coarse) + "\n")
    return folder


def py3_dump(protocol):
    def dump(path, obj):
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)

    return dump


def check_cifar10(data, parts, test, fmt):
    assert data.name == "cifar10" and data.format == fmt and data.classes == CIFAR10_NAMES
    np.testing.assert_array_equal(data.train.images, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(data.train.labels, np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(data.test.images, test[0])
    np.testing.assert_array_equal(data.test.labels, test[1])
    assert data.train.images.dtype == np.uint8 and data.train.labels.dtype == np.int64
    assert data.train.images.shape == (12, 3, 32, 32) and len(data.test) == 3


def check_cifar100(data, split_data, fine, coarse, fmt):
    assert data.name == "cifar100" and data.format == fmt
    assert data.classes == fine and data.coarse_classes == coarse
    for split in ("train", "test"):
        images, f, c = split_data[split]
        got = getattr(data, split)
        np.testing.assert_array_equal(got.images, images)
        np.testing.assert_array_equal(got.labels, f)
        np.testing.assert_array_equal(got.coarse_labels, c)


# --------------------------------------------------------------------------- reading


ALL_PROTOCOLS = [None, *(py3_dump(p) for p in range(6))]
PROTOCOL_IDS = ["python2-style", *(f"py3-protocol{p}" for p in range(6))]


@pytest.mark.parametrize("dump", ALL_PROTOCOLS, ids=PROTOCOL_IDS)
def test_cifar10_python_read_exactly_also_one_folder_up(tmp_path, dump):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path / "cifar-10-batches-py", parts, test, dump=dump)
    check_cifar10(load_images(folder), parts, test, "python")
    data = load_images(tmp_path)  # the folder one level up
    check_cifar10(data, parts, test, "python")
    assert data.path == folder


def test_pixel_layout_is_red_green_blue_planes_of_rows(tmp_path):
    parts, test = cifar10_parts()
    write_cifar10_binary(tmp_path, parts, test)
    row = (tmp_path / "test_batch.bin").read_bytes()[1 : 1 + PIXELS]
    image = load_images(tmp_path).test.images[0]
    assert image[0, 0, 1] == row[1] and image[0, 1, 0] == row[32]  # red, row-major
    assert image[1, 0, 0] == row[1024] and image[2, 31, 31] == row[3071]


def test_cifar10_binary_read_exactly(tmp_path):
    parts, test = cifar10_parts()
    folder = write_cifar10_binary(tmp_path / "cifar-10-batches-bin", parts, test)
    check_cifar10(load_images(folder), parts, test, "binary")
    check_cifar10(load_images(tmp_path), parts, test, "binary")


@pytest.mark.parametrize("dump", ALL_PROTOCOLS, ids=PROTOCOL_IDS)
def test_cifar100_python_read_exactly(tmp_path, dump):
    split_data, fine, coarse = cifar100_data()
    write_cifar100_python(tmp_path / "cifar-100-python", split_data, fine, coarse, dump=dump)
    check_cifar100(load_images(tmp_path), split_data, fine, coarse, "python")


def test_cifar100_binary_read_exactly(tmp_path):
    split_data, fine, coarse = cifar100_data()
    folder = write_cifar100_binary(tmp_path / "cifar-100-binary", split_data, fine, coarse)
    check_cifar100(load_images(folder), split_data, fine, coarse, "binary")


def test_written_pickles_are_python2_style_and_read_by_plain_pickle(tmp_path):
    """Our files name only numpy's py2-era globals (no _codecs), like the official ones, and
    load with pickle's own reader in both usual ways (bytes keys; torchvision's latin1)."""
    images, labels = fake(4, 10, 0)
    path = tmp_path / "batch"
    write_python_pickle(
        path, {b"data": images.reshape(4, -1), b"labels": labels.tolist(), b"name": b"x" * 300}
    )
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02"
    globals_named = {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}
    assert globals_named == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert {op.name for op, _, _ in pickletools.genops(raw)}.isdisjoint(
        {"BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "SHORT_BINBYTES"}
    )
    as_bytes = pickle.loads(raw, encoding="bytes")
    np.testing.assert_array_equal(as_bytes[b"data"], images.reshape(4, -1))
    assert as_bytes[b"labels"] == labels.tolist() and as_bytes[b"name"] == b"x" * 300
    as_latin1 = pickle.loads(raw, encoding="latin1")
    np.testing.assert_array_equal(as_latin1["data"], images.reshape(4, -1))


# --------------------------------------------------------------------------- crafted pickles


class Payload:
    """Pickles as a call of ``fn(*args)``: what a malicious CIFAR file would hold."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def payloads(marker: Path):
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "builtins.eval": Payload(eval, f"open({str(marker)!r}, 'w').close()"),
        "builtins.exec": Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess": Payload(subprocess.check_call, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec", "subprocess"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, kind, protocol):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path / "c", parts, test)
    marker = tmp_path / "pwned"
    # (str keys: under protocol 2, Python 3 writes bytes through _codecs.encode, itself refused)
    evil = pickle.dumps({"data": payloads(marker)[kind], "labels": []}, protocol=protocol)
    (folder / "data_batch_2").write_bytes(evil)
    with pytest.raises(TRMError) as e:
        load_images(folder)
    message = str(e.value)
    assert "\n" not in message and "data_batch_2" in message and "refused" in message
    names = {
        "os.system": "posix.system",
        "builtins.eval": "builtins.eval",
        "builtins.exec": "builtins.exec",
        "subprocess": "subprocess.check_call",
    }
    if protocol == 2:  # pickle writes the Python 2 names, which Python 3 maps back when loading
        names.update(
            {
                "builtins.eval": "__builtin__.eval",
                "builtins.exec": "__builtin__.exec",
                "subprocess": "commands.check_call",
            }
        )
    assert f"asks for {names[kind]}," in message
    assert not marker.exists()
    # the payload is real: plain pickle runs it
    pickle.loads(evil)
    assert marker.exists()


def test_handwritten_python2_global_and_object_arrays_are_refused(tmp_path):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path, parts, test)
    (folder / "batches.meta").write_bytes(b"c__builtin__\neval\n(S'1+1'\ntR.")
    with pytest.raises(TRMError, match=r"batches.meta: refused: .*__builtin__.eval"):
        load_images(folder)
    objects = np.array([b"a", 1], dtype=object)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": objects}, protocol=4))
    with pytest.raises(TRMError, match=r"batches.meta: refused: .*Python objects"):
        load_images(folder)
    # numpy.ndarray is admitted only as the type _reconstruct rebuilds, never as a call
    (folder / "batches.meta").write_bytes(b"\x80\x02cnumpy\nndarray\nK\x03\x85U\x01O\x86R.")
    assert pickle.loads((folder / "batches.meta").read_bytes(), encoding="bytes").dtype == object
    with pytest.raises(TRMError, match=r"batches.meta: refused: .*calls numpy.ndarray directly"):
        load_images(folder)


def test_only_numpy_array_globals_are_admitted():
    assert set(ALLOWED_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }


@pytest.mark.parametrize(
    "body, why",
    [
        # _codecs.encode('x', 'rot13'): admitted for latin-1 bytes only
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.", "rot13"),
        # _codecs.encode(1, 'latin1'): a number is not text
        (b"\x80\x02c_codecs\nencode\nK\x01X\x06\x00\x00\x00latin1\x86R.", "encode with"),
        # numpy._core.numeric._frombuffer(b'x', dtype('O'), (1,), 'C'): Python objects
        (
            b"\x80\x02cnumpy._core.numeric\n_frombuffer\nC\x08\x00\x00\x00\x00\x00\x00\x00\x00"
            b"cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R\x85R.",
            "bytes|objects",
        ),
    ],
)
def test_admitted_globals_check_their_arguments(tmp_path, body, why):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path, parts, test)
    (folder / "batches.meta").write_bytes(body)
    with pytest.raises(TRMError, match=rf"batches.meta: refused: .*({why})"):
        load_images(folder)


# --------------------------------------------------------------------------- bad folders


def _break(folder: Path, how: str) -> str:
    """Damage a CIFAR-10 python folder; returns the file the message must name."""
    if how == "missing":
        (folder / "data_batch_3").unlink()
        return "data_batch_3"
    if how == "truncated":
        raw = (folder / "data_batch_2").read_bytes()
        (folder / "data_batch_2").write_bytes(raw[: len(raw) // 2])
        return "data_batch_2"
    images, labels = fake(2, 10, 5)
    entry = {b"data": images.reshape(2, -1), b"labels": labels.tolist()}
    if how == "pixel size":
        entry[b"data"] = entry[b"data"][:, :3000].copy()
    elif how == "label range":
        entry[b"labels"] = [3, 10]
    elif how == "label count":
        entry[b"labels"] = [3]
    elif how == "not a dict":
        entry = [entry]
    elif how == "no labels":
        del entry[b"labels"]
    write_python_pickle(folder / "test_batch", entry)
    return "test_batch"


@pytest.mark.parametrize(
    "how, says",
    [
        ("missing", "missing"),
        ("truncated", "truncated"),
        ("pixel size", "(n, 3072)"),
        ("label range", "outside 0..9"),
        ("label count", "1 labels for 2 images"),
        ("not a dict", "not the dict"),
        ("no labels", "no labels entry"),
    ],
)
def test_bad_python_folder_gives_one_line_error_naming_the_file(tmp_path, how, says):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path, parts, test)
    file = _break(folder, how)
    with pytest.raises(TRMError) as e:
        load_images(folder)
    assert "\n" not in str(e.value) and file in str(e.value) and says in str(e.value)


def test_bad_binary_files_give_one_line_errors(tmp_path):
    parts, test = cifar10_parts()
    folder = write_cifar10_binary(tmp_path / "c10", parts, test)
    with open(folder / "test_batch.bin", "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(TRMError, match=r"test_batch.bin: .*not a whole number of 3073-byte"):
        load_images(folder)
    split_data, fine, coarse = cifar100_data()
    split_data["train"][1][2] = 100  # fine label out of range
    folder = write_cifar100_binary(tmp_path / "c100", split_data, fine, coarse)
    with pytest.raises(TRMError, match=r"train.bin: fine labels holds 100, outside 0..99"):
        load_images(folder)
    (folder / "test.bin").unlink()
    with pytest.raises(TRMError, match=r"test.bin: missing"):
        load_images(folder)


def test_folders_that_are_not_cifar(tmp_path):
    with pytest.raises(TRMError, match="no such folder"):
        load_images(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TRMError, match="no CIFAR files here or in a folder inside"):
        load_images(tmp_path)
    parts, test = cifar10_parts()
    write_cifar10_python(tmp_path / "a", parts, test)
    write_cifar10_binary(tmp_path / "b", parts, test)
    with pytest.raises(TRMError, match=r"several CIFAR folders \(a, b\)"):
        load_images(tmp_path)


# --------------------------------------------------------------------------- download


def make_archive(
    tmp_path: Path, members: dict[str, bytes] | None = None, name: str = "archive.tar.gz"
) -> tuple[Path, str, tuple]:
    """A .tar.gz like the official one (cifar-10-batches-py/...), or of the given members."""
    parts, test = cifar10_parts()
    path = tmp_path / "served" / name
    path.parent.mkdir(exist_ok=True)
    if members is None:
        src = write_cifar10_python(tmp_path / "src" / "cifar-10-batches-py", parts, test)
        with tarfile.open(path, "w:gz") as tar:
            tar.add(src, arcname="cifar-10-batches-py")
    else:
        with tarfile.open(path, "w:gz") as tar:
            for member_name, data in members.items():
                info = tarfile.TarInfo(member_name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path, hashlib.md5(path.read_bytes()).hexdigest(), (parts, test)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in ("served", "src"))


def test_download_from_file_url(tmp_path):
    archive, md5, (parts, test) = make_archive(tmp_path)
    out = tmp_path / "cifar10"
    assert download("cifar10", out, archive.as_uri(), md5, progress=False) == out
    assert sorted(p.name for p in out.iterdir()) == ["cifar-10-batches-py"]
    check_cifar10(load_images(out), parts, test, "python")
    assert leftovers(tmp_path) == ["cifar10"]
    # already there: nothing is fetched (this URL would fail)
    assert download("cifar10", out, "http://127.0.0.1:9/none", md5, progress=False) == out


def test_train_download_fetches_then_trains_and_a_wrong_archive_leaves_nothing(
    tmp_path, monkeypatch
):
    """`trm vision train --download`: in-process (the published MD5 swapped for the test
    archive's); then through the console script, where the real MD5 refuses the fake."""
    from typer.testing import CliRunner

    import vision.download
    from cli.main import app

    archive, md5, (parts, test) = make_archive(tmp_path)
    official = vision.download.ARCHIVES["cifar10"]
    monkeypatch.setitem(
        vision.download.ARCHIVES,
        "cifar10",
        vision.download.Archive(archive.as_uri(), md5, official.folder, official.size),
    )
    data, run = tmp_path / "c10", tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "vision",
            "train",
            "--data",
            str(data),
            "--download",
            "cifar10",
            "--variant",
            "vit",
            "--out",
            str(run),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--hidden-size",
            "16",
            "--heads",
            "2",
            "--depth",
            "1",
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    check_cifar10(load_images(data), parts, test, "python")
    assert (run / "checkpoint").is_dir()
    monkeypatch.undo()
    r = run_trm(
        "vision",
        "train",
        "--data",
        str(tmp_path / "other"),
        "--download",
        "cifar10",
        "--download-url",
        archive.as_uri(),
        "--variant",
        "vit",
        "--out",
        str(tmp_path / "r2"),
        "-q",
    )
    assert (
        r.returncode == 2 and "MD5" in r.stderr.upper() and len(r.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "other").exists() and not (tmp_path / "r2").exists()
    r = run_trm(
        *cmd("vision train --data", data, "--download-url x --variant vit --out", tmp_path / "r3")
    )
    assert r.returncode == 2 and "--download" in r.stderr


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    (tmp_path / "served").mkdir(exist_ok=True)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served")
    )
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_over_loopback_http(tmp_path, http_server):
    archive, md5, (parts, test) = make_archive(tmp_path)
    out = tmp_path / "data" / "c10"
    download("cifar10", out, f"{http_server}/{archive.name}", md5, progress=False)
    check_cifar10(load_images(out), parts, test, "python")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["c10"]


def test_wrong_md5_or_missing_file_leaves_nothing(tmp_path, http_server):
    archive, md5, _ = make_archive(tmp_path)
    out = tmp_path / "cifar10"
    with pytest.raises(TRMError, match=r"MD5 [0-9a-f]{32} is not the expected 0{32}"):
        download("cifar10", out, archive.as_uri(), "0" * 32, progress=False)
    official = "c58f30108f718f92721af3b95e74349a"
    with pytest.raises(TRMError, match=f"MD5 .* is not the expected {official}"):
        download("cifar10", out, f"{http_server}/{archive.name}", progress=False)  # official MD5
    with pytest.raises(TRMError, match="HTTP 404"):
        download("cifar10", out, f"{http_server}/missing.tar.gz", md5, progress=False)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "member, why",
    [
        ("../evil.txt", "leaves the folder"),
        ("cifar-10-batches-py/../../evil.txt", "leaves the folder"),
        ("/tmp/evil-absolute.txt", "absolute path"),
    ],
)
def test_archive_with_escaping_members_is_refused(tmp_path, member, why):
    archive, md5, _ = make_archive(
        tmp_path, {"cifar-10-batches-py/readme.html": b"hi", member: b"evil"}
    )
    out = tmp_path / "deep" / "cifar10"
    with pytest.raises(TRMError, match=f"refused archive member .*{why}"):
        download("cifar10", out, archive.as_uri(), md5, progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()
    assert not (tmp_path / "deep").exists()  # made for the download, removed again


def test_links_and_devices_in_an_archive_are_refused(tmp_path):
    for i, (kind, why) in enumerate(
        ((tarfile.SYMTYPE, "a link"), (tarfile.LNKTYPE, "a link"), (tarfile.CHRTYPE, "a device"))
    ):
        path = tmp_path / f"a{i}.tar"
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
            info.type, info.linkname = kind, "/etc/passwd"
            tar.addfile(info)
        dest = tmp_path / f"dest{i}"
        dest.mkdir()
        with pytest.raises(TRMError, match=f"refused archive member .*{why}"):
            extract_tar(path, dest)
        assert list(dest.iterdir()) == []


def test_broken_or_wrong_archive_leaves_nothing(tmp_path):
    archive, _, _ = make_archive(tmp_path)
    broken = archive.with_name("broken.tar.gz")
    broken.write_bytes(archive.read_bytes()[:-300])
    out = tmp_path / "cifar10"
    with pytest.raises(TRMError, match="broken archive"):
        download(
            "cifar10",
            out,
            str(broken),
            hashlib.md5(broken.read_bytes()).hexdigest(),
            progress=False,
        )
    with pytest.raises(TRMError, match="holds cifar10, not cifar100"):
        download(
            "cifar100",
            out,
            str(archive),
            hashlib.md5(archive.read_bytes()).hexdigest(),
            progress=False,
        )
    assert leftovers(tmp_path) == []
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "thesis.tex").write_text("mine")
    with pytest.raises(TRMError, match="holds no CIFAR data"):
        download("cifar10", tmp_path / "taken", str(archive), progress=False)
    with pytest.raises(TRMError, match=r"nothing.tar.gz: no such file"):
        download("cifar10", out, str(tmp_path / "nothing.tar.gz"), progress=False)
    write_synthetic(tmp_path / "synth", 10, 5, progress=False)  # CIFAR-10 layout, not CIFAR-10
    with pytest.raises(TRMError, match="already holds CIFAR data: pass `force`"):
        download("cifar10", tmp_path / "synth", str(archive), progress=False)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_read_back_exactly(tmp_path):
    a = write_synthetic(tmp_path / "a", 23, 7, classes=6, seed=3, progress=False)
    write_synthetic(tmp_path / "b", 23, 7, classes=6, seed=3, progress=False)
    write_synthetic(tmp_path / "c", 23, 7, classes=6, seed=4, progress=False)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == [
        "batches.meta",
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "test_batch").read_bytes() != (
        tmp_path / "c" / "test_batch"
    ).read_bytes()
    data = load_images(tmp_path / "a")
    assert data.name == "synthetic" and data.classes == class_names(6)
    assert data.info == {
        "generator": "trm vision data synthetic",
        "version": 1,
        "seed": 3,
        "classes": 6,
        "train": 23,
        "test": 7,
    }
    np.testing.assert_array_equal(data.train.images, a.train.images)
    np.testing.assert_array_equal(data.test.labels, a.test.labels)
    assert np.bincount(data.train.labels, minlength=6).tolist() == [4, 4, 4, 4, 4, 3]
    mem = generate(23, 7, classes=6, seed=3)
    np.testing.assert_array_equal(mem.train.images, data.train.images)
    assert len(np.unique(data.train.images.reshape(23, -1), axis=0)) == 23
    batch5 = pickle.loads((tmp_path / "a" / "data_batch_5").read_bytes(), encoding="bytes")
    write_python_pickle(
        tmp_path / "a" / "data_batch_5",
        {b"data": batch5[b"data"][:-1], b"labels": batch5[b"labels"][:-1]},
    )
    with pytest.raises(TRMError, match=r"22 train images, batches.meta says 23"):
        load_images(tmp_path / "a")


def test_synthetic_classes_are_distinct_shape_texture_pairs():
    shapes, textures = class_factors(MAX_CLASSES)
    assert len(set(zip(shapes.tolist(), textures.tolist()))) == MAX_CLASSES
    assert len(set(class_names(MAX_CLASSES))) == MAX_CLASSES
    shapes, textures = class_factors(10)
    assert len(set(shapes.tolist())) == 6 and len(set(textures.tolist())) == 5


def test_synthetic_refuses_bad_settings_and_foreign_folders(tmp_path):
    with pytest.raises(TRMError, match="`classes` 31"):
        write_synthetic(tmp_path / "x", 10, 5, classes=31, progress=False)
    with pytest.raises(TRMError, match="`train` 0"):
        write_synthetic(tmp_path / "x", 0, 5, progress=False)
    assert not (tmp_path / "x").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(TRMError, match="holds no CIFAR data"):
        write_synthetic(tmp_path / "mine", 10, 5, progress=False)
    write_synthetic(tmp_path / "s", 10, 5, progress=False)
    with pytest.raises(TRMError, match="`force`"):
        write_synthetic(tmp_path / "s", 10, 5, seed=1, progress=False)
    write_synthetic(tmp_path / "s", 12, 5, seed=1, force=True, progress=False)
    assert len(load_images(tmp_path / "s").train) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "s"]  # no staging left


def test_synthetic_is_far_from_linearly_separable():
    """Ridge regression on raw pixels (the benchmark does 50k images) stays near chance."""
    data = generate(2000, 1000, classes=10, seed=0)
    x = data.train.images.reshape(2000, -1).astype(np.float64) / 255
    xt = data.test.images.reshape(1000, -1).astype(np.float64) / 255
    mean = x.mean(0)
    x, xt = x - mean, xt - mean
    y = np.eye(10)[data.train.labels]
    w = x.T @ np.linalg.solve(x @ x.T + 100 * np.eye(2000), y)  # dual form: n < pixels
    accuracy = float(((xt @ w).argmax(1) == data.test.labels).mean())
    assert accuracy < 0.3


# --------------------------------------------------------------------------- augmentation


def batch(dtype=torch.uint8, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, g: aug.random_crop(x, 4, "reflect", g),
        lambda x, g: aug.random_crop(x, 4, "zeros", g),
        lambda x, g: aug.random_hflip(x, 0.5, g),
        lambda x, g: aug.rand_augment(x, 2, 9, g),
        lambda x, g: aug.augment(x, g, randaugment=(2, 14)),
        lambda x, g: aug.cutmix(x, torch.arange(6), 6, 1.0, g)[0],
    ],
    ids=["crop-reflect", "crop-zeros", "flip", "randaugment", "augment", "cutmix"],
)
def test_augmentations_keep_shape_dtype_and_are_seeded(dtype, fn):
    x = batch(dtype)
    a, b, c = fn(x, gen(1)), fn(x, gen(1)), fn(x, gen(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    if dtype == torch.float32:
        assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_flip_twice_and_zero_shift_are_identity():
    x = batch()
    assert torch.equal(aug.random_hflip(aug.random_hflip(x, 1.0, gen()), 1.0, gen()), x)
    assert torch.equal(aug.random_hflip(x, 1.0, gen()), x.flip(-1))
    assert torch.equal(aug.random_hflip(x, 0.0, gen()), x)
    zero = torch.zeros(6, dtype=torch.long)
    for mode in ("reflect", "zeros"):
        assert torch.equal(aug.shift(x, zero, zero, mode), x)
    assert torch.equal(aug.random_crop(x, 0, generator=gen()), x)


def test_shift_is_a_crop_of_the_padded_image():
    x = batch(torch.float32)
    dy, dx = torch.tensor([-4, -1, 0, 2, 4, 3]), torch.tensor([4, 0, -3, 1, -4, 2])
    for mode, pad_mode in (("reflect", "reflect"), ("zeros", "constant")):
        padded = F.pad(x, (4, 4, 4, 4), mode=pad_mode)
        want = torch.stack(
            [padded[i, :, 4 + dy[i] : 36 + dy[i], 4 + dx[i] : 36 + dx[i]] for i in range(6)]
        )
        assert torch.equal(aug.shift(x, dy, dx, mode), want)
        u8 = aug.shift(aug.to_uint8(x), dy, dx, mode)
        assert u8.dtype == torch.uint8 and torch.equal(u8, aug.to_uint8(want))


def test_randaugment_ops():
    x = batch()
    for name in aug.RANDAUGMENT_OPS:
        for level in (-1.0, -0.3, 0.5, 1.0):
            y = aug.apply_op(x, name, level)
            assert y.shape == x.shape and y.dtype == torch.uint8, name
    for name in (
        "brightness",
        "color",
        "contrast",
        "sharpness",
        "rotate",
        "shear_x",
        "translate_y",
        "solarize",
        "posterize",
        "identity",
    ):
        assert torch.equal(aug.apply_op(x, name, 0.0), x), name
    assert torch.equal(aug.apply_op(x, "solarize", 1.0), 255 - x)
    assert torch.equal(aug.apply_op(x, "posterize", 1.0), x & 0xF0)
    flat = torch.arange(256, dtype=torch.uint8).repeat(4).view(1, 1, 32, 32).expand(2, 3, 32, 32)
    assert torch.equal(aug.apply_op(flat, "equalize", 0.0), flat)  # already equalised
    assert torch.equal(aug.apply_op(x.float() / 255, "identity", 0.0), x.float() / 255)
    with pytest.raises(ValueError, match="magnitude"):
        aug.rand_augment(x, 2, 31, gen())


def test_soft_targets_mixup_and_cutmix():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    t = aug.soft_targets(labels, 10, 0.1)
    assert torch.allclose(t.sum(1), torch.ones(6)) and abs(float(t.max()) - 0.91) < 1e-6
    x = aug.normalize(batch())
    assert x.dtype == torch.float32
    for fn in (aug.mixup, aug.cutmix):
        images, targets = fn(x, labels, 10, 1.0, gen(3), smoothing=0.1)
        assert images.shape == x.shape and targets.shape == (6, 10)
        assert torch.allclose(targets.sum(1), torch.ones(6))
        again = fn(x, labels, 10, 1.0, gen(3), smoothing=0.1)
        assert torch.equal(images, again[0]) and torch.equal(targets, again[1])
    with pytest.raises(ValueError, match="float"):
        aug.mixup(batch(), labels, 10, 1.0, gen())
    # each image a constant equal to its label: a pixel's value says which image it came from
    flat = labels.float().view(6, 1, 1, 1).expand(6, 3, 32, 32).contiguous()
    images, targets = aug.cutmix(flat, labels, 6, 1.0, gen(5))
    share = torch.stack([(images == k).float().mean(dim=(1, 2, 3)) for k in range(6)], 1)
    assert torch.allclose(share, targets, atol=1e-6)  # targets = pixel share of each source
    images, targets = aug.mixup(flat, labels, 6, 1.0, gen(5))
    assert torch.allclose(images[:, 0, 0, 0], (targets * torch.arange(6.0)).sum(1), atol=1e-5)


def test_normalize_and_channel_stats():
    x = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)
    mean, std = aug.channel_stats(x)
    assert np.allclose(mean, 128 / 255) and np.allclose(std, 0, atol=1e-6)
    y = aug.normalize(x, mean, (1.0, 1.0, 1.0))
    assert y.dtype == torch.float32 and float(y.abs().max()) < 1e-6
    z = aug.normalize(x)
    assert torch.allclose(
        z[0, :, 0, 0], (128 / 255 - torch.tensor(aug.CIFAR10_MEAN)) / torch.tensor(aug.CIFAR10_STD)
    )


# --------------------------------------------------------------------------- CLI


def run_vision(*args: str) -> subprocess.CompletedProcess:
    return run_trm("vision", *args)


def test_cli_synthetic_and_cifar(tmp_path):
    r = run_vision("data", "synthetic", "--help")
    assert r.returncode == 0 and "Example" in r.stdout
    r = run_vision(
        "data",
        "synthetic",
        "--out",
        str(tmp_path / "s"),
        "--train",
        "15",
        "--test",
        "5",
        "--classes",
        "4",
        "--seed",
        "1",
        "-q",
    )
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert "wrote" in r.stderr and len(load_images(tmp_path / "s").train) == 15
    r = run_vision("data", "synthetic", "--out", str(tmp_path / "t"), "--classes", "99")
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "--classes 99" in r.stderr and not (tmp_path / "t").exists()
    archive, _, _ = make_archive(tmp_path)  # not the official archive: its MD5 differs
    r = run_vision("data", "cifar", "--out", str(tmp_path / "c"), "--url", str(archive), "-q")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "MD5" in r.stderr and not (tmp_path / "c").exists()


# Pickles that killed the interpreter with a segmentation fault: numpy's C __setstate__ trusts
# the state a BUILD opcode hands it. The first is a real CIFAR pickle (protocol 2, as Python 3
# writes it) with a few bytes flipped by a fuzzer; the second its essence, a dtype given a
# 6-tuple state (plain pickle.loads of it crashes too). The reader now builds arrays and
# dtypes from checked states itself, and walks the opcodes before unpickling.
CRASHED_NUMPY = bytes.fromhex(
    "80027d710028635f636f646563730a656e636f64650a7101580b00000062617463685f6c6162656c71025806"
    "0000006c6174696e317103867104527105680158010000006271066803867107527108680158060000006c69"
    "62656c737109680386710a52710b5d710c284b014b02656801580400000064617461710d680386710e52710f"
    "636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7110636e756d70"
    "790a6e6461727261790a71114b008571126808877113527114284b014b024b03867115636e756d70790a6474"
    "7970650a71165802000000753171178988877118527119284b0358010000007c711a4e624e4affffffff4aff"
    "ffffff4b0074711b628968015806000000000102030405711c680386711d52711e74711f6268015809000000"
    "66696c656e616d6573bc2068038671215271225d71232868015805000000612e706e67712468038671255271"
    "2668015805000000622e706e677127680386712852712965752e"
)
CRASHING_DTYPE = (
    b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R(K\x03X\x01\x00\x00\x00|N"
    b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."
)


@pytest.mark.parametrize(
    "body, why",
    [
        (CRASHED_NUMPY, "truncated or not a pickle (at position 317, opcode"),
        (CRASHING_DTYPE, "refused: the pickle gives dtype uint8 a state numpy would not write"),
    ],
    ids=["fuzzed", "dtype-state"],
)
def test_pickles_that_crashed_numpy_are_refused_in_one_line(tmp_path, body, why):
    parts, test = cifar10_parts()
    folder = write_cifar10_python(tmp_path / "c", parts, test)
    (folder / "data_batch_1").write_bytes(body)
    # in a process of its own: a regression would kill the interpreter, not fail an assert
    r = run_trm(
        *cmd("vision train --data", folder, "--variant vit --out", tmp_path / "run", "--quiet")
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"data_batch_1: {why}" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "state, why",
    [
        ("(1, (2,), None, False, b'ab')", "a dtype that is not one"),
        ("(1, (3,), numpy.dtype('u1'), False, b'ab')", "holds 2 bytes"),
        ("(1, (-1,), numpy.dtype('u1'), False, b'ab')", "the shape"),
        ("(2, (2,), numpy.dtype('u1'), False, b'ab')", "a state numpy would not write"),
    ],
)
def test_array_states_are_checked_before_an_array_is_built(state, why):
    import io

    from vision.pickles import SafeUnpickler, _resolved

    class Evil:
        def __reduce__(self):
            import numpy

            return (numpy.core.multiarray._reconstruct, (numpy.ndarray, (0,), b"b"), eval(state))

    body = pickle.dumps({b"data": Evil()}, protocol=2)
    with pytest.raises(Exception, match=why):
        _resolved(SafeUnpickler(io.BytesIO(body)).load())


# ------------------------------------------------------------------ trm vision data show


def test_show_draws_each_picked_image_scaled_in_its_class_row(tmp_path):
    from vision.show import CHAR_WIDTH, GAP, LABEL_CHARS, LINE_HEIGHT, class_counts, grid, pick

    parts, test = cifar10_parts(sizes=(6, 6, 6, 6, 6), test=4)
    data = load_images(write_cifar10_python(tmp_path / "c10", parts, test))
    assert (
        class_counts(data, "train").tolist()
        == np.bincount(data.train.labels, minlength=10).tolist()
    )
    picture = np.asarray(grid(data, per_class=2, scale=3, seed=5))
    chosen = pick(data.train.labels, 10, 2, 5)
    assert [len(c) for c in chosen] == [min(2, n) for n in class_counts(data, "train")]
    assert all((data.train.labels[c] == k).all() for k, c in enumerate(chosen))
    size, left, top = 96, (LABEL_CHARS + 9) * CHAR_WIDTH, LINE_HEIGHT + 2 * GAP
    for row, picked in enumerate(chosen):
        for k, i in enumerate(picked):
            y, x = top + row * (size + GAP), left + k * (size + GAP)
            tile = picture[y : y + size, x : x + size]
            want = data.train.images[i].transpose(1, 2, 0).repeat(3, 0).repeat(3, 1)
            assert np.array_equal(tile, want)
    assert picture.shape[0] == top + 10 * (size + GAP) + GAP
    # the same seed draws the same images; another seed others
    assert np.array_equal(picture, np.asarray(grid(data, per_class=2, scale=3, seed=5)))
    assert not np.array_equal(picture, np.asarray(grid(data, per_class=2, scale=3, seed=6)))


def test_cli_show_writes_a_png_and_the_label_histogram(tmp_path):
    from PIL import Image

    from tests.helpers import assert_one_line_error

    folder = write_cifar10_python(tmp_path / "c10", *cifar10_parts())
    png = tmp_path / "grid.png"
    r = run_trm(*cmd("vision data show", folder, "--out", png, "--per-class 3 --split test"))
    assert r.returncode == 0, r.stderr
    assert "test, 3 images" in r.stderr and "always guessing the commonest" in r.stderr
    assert Image.open(png).format == "PNG"
    again = run_trm(*cmd("vision data show", folder, "--out", png))
    assert_one_line_error(again, "already exists")
    assert_one_line_error(
        run_trm(*cmd("vision data show", folder, "--out", tmp_path / "x.png", "--per-class 0")),
        "per-class",
    )
    assert_one_line_error(
        run_trm(*cmd("vision data show", folder, "--out", tmp_path / "x.jpg")), ".png"
    )
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.jpg").exists()
