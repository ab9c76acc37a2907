"""Vision commands that must not hang or fill the disk: CIFAR downloads from pipes, devices
and endless sources, and a resumed `trm vision train` that takes its variant from the run."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import vision.download
from tests.helpers import REPO, TEST_ENV, assert_one_line_error, cmd, run_trm, run_trm_here
from trm.checkpoint import load_checkpoint
from trm.errors import TRMError
from vision.download import download

CIFAR10 = vision.download.ARCHIVES["cifar10"]
GUARD_BYTES = 64 << 20  # the most a guarded `trm` may write to one file (it dies past it)


def run_guarded(*args) -> subprocess.CompletedProcess:
    """`trm ARGS` in a subprocess that cannot hang the tests (a timeout) nor fill the disk
    (files limited to GUARD_BYTES: past it the kernel kills the process)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (GUARD_BYTES, GUARD_BYTES))

    return run_trm(*cmd(*args), timeout=60, preexec_fn=limit)


posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes and rlimits")


# --------------------------------------------------------------------------- download sources


@posix_only
@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
@pytest.mark.parametrize(
    "kind, says", [("fifo", "a named pipe"), ("dir", "a directory"), ("device", "a device")]
)
def test_pipes_directories_and_devices_are_refused_before_opening(tmp_path, kind, says, as_url):
    source = {"fifo": tmp_path / "pipe", "dir": tmp_path / "folder", "device": Path("/dev/zero")}
    source = source[kind]
    if kind == "fifo":
        os.mkfifo(source)
    elif kind == "dir":
        source.mkdir()
    url = source.as_uri() if as_url else str(source)
    out = tmp_path / "c10"
    r = run_guarded("vision data cifar --out", out, "--url", url, "-q")
    assert_one_line_error(r, f"{source}: {says}, not a CIFAR archive")
    assert not out.exists()


@posix_only
def test_a_file_larger_than_the_archive_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.tar.gz"
    with open(big, "wb") as f:  # sparse: no disk used
        f.truncate(CIFAR10.size + 1)
    out = tmp_path / "c10"
    r = run_guarded("vision data cifar --out", out, "--url", big.as_uri(), "-q")
    assert_one_line_error(r, big.as_uri(), f"{CIFAR10.size + 1:,} bytes", "too large")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["big.tar.gz"]


class Endless(http.server.BaseHTTPRequestHandler):
    """Sends zeros (at most SENT bytes, so that a failing test still ends) with the
    Content-Length in ``announce`` (None: none, the body ends when the connection does)."""

    announce: int | None = None
    SENT = 32 << 20

    def do_GET(self):
        self.send_response(200)
        if self.announce is not None:
            self.send_header("Content-Length", str(self.announce))
        self.end_headers()
        try:
            for _ in range(self.SENT >> 16):
                self.wfile.write(bytes(1 << 16))
        except OSError:  # the client hung up: what a refusal does
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def endless(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/archive.tar.gz"
    server.shutdown()
    server.server_close()


def test_a_server_announcing_more_than_the_archive_is_refused_early(tmp_path, endless):
    server, url = endless
    server.RequestHandlerClass = type("Announcing", (Endless,), {"announce": 10**12})
    out = tmp_path / "c10"
    with pytest.raises(TRMError, match=f"{url}: it announces 1,000,000,000,000 bytes"):
        download("cifar10", out, url, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("md5, cap", [(None, 1 << 20), ("0" * 32, 2 << 20)])
def test_an_endless_stream_stops_at_the_archive_size(tmp_path, endless, monkeypatch, md5, cap):
    """Without a Content-Length the download stops past the archive's size: the official
    one's with the published MD5, twice it for another archive (``md5`` given)."""
    _, url = endless
    small = vision.download.Archive(CIFAR10.url, CIFAR10.md5, CIFAR10.folder, 1 << 20)
    monkeypatch.setitem(vision.download.ARCHIVES, "cifar10", small)
    out = tmp_path / "c10"
    with pytest.raises(TRMError, match=f"{url}: more than {cap:,} bytes, too large"):
        download("cifar10", out, url, md5, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_archive_table_knows_the_official_sizes():
    sizes = {name: a.size for name, a in vision.download.ARCHIVES.items()}
    assert sizes == {"cifar10": 170_498_071, "cifar100": 169_001_437}


# --------------------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vision.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("syn") / "syn"
    write_synthetic(root, train=64, test=32, classes=10, seed=0, progress=False)
    return root


def test_resume_takes_the_variant_from_the_run(synthetic, tmp_path):
    run = tmp_path / "run"
    small = "--batch-size 16 --device cpu -q"
    model = "--hidden-size 16 --heads 2 --depth 1"
    r = run_trm_here(*cmd("vision train --data", synthetic, "--out", run, "--steps 2", small))
    assert_one_line_error(r, "--variant")  # a new run still needs it
    assert not run.exists()
    r = run_trm_here(
        *cmd(
            "vision train --data", synthetic, "--variant vit --out", run, "--steps 2", model, small
        )
    )
    assert r.returncode == 0, r.stderr
    r = run_trm_here(
        *cmd("vision train --data", synthetic, "--out", run, "--resume --steps 4", small)
    )
    assert r.returncode == 0, r.stderr
    assert "step 4" in r.stderr
    config = load_checkpoint(run).config
    assert config["variant"] == "vit" and config["train"]["steps"] == 4
    r = run_trm_here(
        *cmd("vision train --data", synthetic, "--variant vitrm --out", run, "--resume", small)
    )
    assert_one_line_error(r, f"{run} holds a vit run, not vitrm")
    r = run_trm_here(
        *cmd(
            "vision train --data",
            synthetic,
            "--variant vit --out",
            run,
            "--resume --steps 6",
            small,
        )
    )
    assert r.returncode == 0 and "step 6" in r.stderr, r.stderr


class Slow(Endless):
    """Sends 2 MiB, then 64 KiB a second: a download that is still going when it is stopped."""

    def do_GET(self):
        import time

        self.send_response(200)
        self.end_headers()
        try:
            self.wfile.write(bytes(2 << 20))
            for _ in range(120):
                self.wfile.write(bytes(1 << 16))
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass


def test_sigterm_during_a_download_leaves_nothing(tmp_path, endless):
    import signal
    import time

    server, url = endless
    server.RequestHandlerClass = Slow
    out = tmp_path / "c10"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *cmd("vision data cifar --out", out, "--url", url)],
        cwd=REPO,
        env={**os.environ, **TEST_ENV, "no_proxy": "127.0.0.1,localhost"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size for p in out.glob(".trm-stage-*/.download.part")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "error: stopped by SIGTERM"
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # no stage, no partial archive, no folder
