"""Fetch the official CIFAR archives: stream, check the published MD5, extract safely.

``download("cifar10", "data/cifar10")`` leaves ``data/cifar10/cifar-10-batches-py/``,
which :func:`vision.cifar.load_images` reads given either folder. Nothing half-done is
ever left in place: the archive is streamed into a temporary folder beside the target,
checked against its published MD5, extracted there (members with absolute paths, ``..``,
links or device files are refused before anything is written), read back in full with
the CIFAR loader, and only then renamed into place. A failure at any point, or Ctrl-C,
removes the temporary folder and its partial archive.

Without network, fetch the archive elsewhere and pass it as ``url`` (a ``file://`` URL or
a plain path): it is checked and extracted the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from trm.errors import SettingError, TRMError
from trm.jsonfile import regular_file
from vision.cifar import find_layout, load_images, staged_folder
from vision.pickles import read_pickle

CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str
    folder: str  # the folder the archive extracts to
    size: int  # bytes: a download stops past it (a wrong URL must not fill the disk)


ARCHIVES = {
    "cifar10": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        170_498_071,
    ),
    "cifar100": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        169_001_437,
    ),
}


def archive_for(name: str) -> Archive:
    if name not in ARCHIVES:
        raise TRMError(f"unknown dataset {name!r}: choose {' or '.join(ARCHIVES)}")
    return ARCHIVES[name]


def present(name: str, root: Path) -> bool:
    """Whether ``root`` already holds the complete files of dataset ``name``."""
    root = Path(root)
    try:
        found = find_layout(root) if root.is_dir() else None
    except TRMError:
        return False
    if found is None or found[1].name != name:
        return False
    path, layout = found
    if not all((path / f).is_file() for f in layout.files):
        return False
    if layout.format == "python" and name == "cifar10":  # not a synthetic set in its layout
        try:
            meta = read_pickle(path / "batches.meta")
        except TRMError:
            return False
        return isinstance(meta, dict) and b"trm_synthetic" not in meta
    return True


def download(
    name: str,
    root: Path,
    url: str | None = None,
    md5: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch dataset ``name`` ("cifar10" or "cifar100") into folder ``root``; returns it.

    ``url`` replaces the official address (a mirror, ``file://...`` or a local path);
    ``md5`` replaces the published checksum (for tests with their own archive; it may then
    be up to twice the official size, e.g. repacked without gzip). A ``root`` that already
    holds the dataset is left alone unless ``force``; one that holds anything else is
    refused.
    """
    archive = archive_for(name)
    root = Path(root)
    if present(name, root) and not force:
        return root
    source = _as_url(url or archive.url)
    want = (md5 or archive.md5).lower()
    limit = archive.size if want == archive.md5 else 2 * archive.size
    with staged_folder(root, force) as stage:
        part = stage / ".download.part"
        got = _fetch(source, part, limit, desc=f"{name} archive", progress=progress)
        if got != want:
            raise TRMError(
                f"{source}: MD5 {got} is not the expected {want}: a corrupt or "
                "different archive (nothing was kept)"
            )
        extract_tar(part, stage, label=source)
        part.unlink()
        data = load_images(stage)
        if data.name != name:
            raise TRMError(f"{source}: the archive holds {data.name}, not {name}")
    return root


def _as_url(url: str) -> str:
    """A plain path becomes a file:// URL. Either must name a regular file: a named pipe
    would block and a device might never end, so they are refused before opening."""
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() == "file":
            regular_file(Path(urllib.request.url2pathname(parts.path)), "CIFAR archive")
        return url
    path = Path(url).expanduser()
    if not path.exists():
        raise TRMError(f"{url}: no such file (give a URL or the path of the archive)")
    return regular_file(path, "CIFAR archive").resolve().as_uri()


def _fetch(url: str, dest: Path, limit: int, desc: str, progress: bool) -> str:
    """Stream ``url`` into ``dest`` with a progress bar on stderr; returns the MD5 hex.
    More than ``limit`` bytes, announced or sent, is refused."""
    md5 = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                raise TRMError(
                    f"cannot download {url}: it announces {total:,} bytes, too large for "
                    f"the {desc} (at most {limit:,}); nothing was kept"
                )
            with tqdm(
                total=total,
                desc=desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    if received > limit:
                        raise TRMError(
                            f"cannot download {url}: more than {limit:,} bytes, too large "
                            f"for the {desc}; stopped, nothing was kept"
                        )
    except urllib.error.HTTPError as e:
        raise TRMError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise SettingError(
            f"cannot download {url}: {e.reason} (offline? fetch the archive "
            "elsewhere and pass its path as `url`)"
        ) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise TRMError(f"cannot download {url}: {type(e).__name__}: {e}") from None
    if total is not None and received != total:
        raise TRMError(f"cannot download {url}: got {received} of {total} bytes")
    return md5.hexdigest()


def _check_member(member: tarfile.TarInfo, label: str) -> PurePosixPath:
    """The member's relative path, or a refusal for anything unsafe to extract."""
    path = PurePosixPath(member.name)
    why = None
    if not path.parts:
        if not member.isdir():
            why = "an empty name"
    elif path.is_absolute() or member.name.startswith("\\") or ":" in path.parts[0]:
        why = "an absolute path"
    elif ".." in path.parts or "\\" in member.name:
        why = "a path that leaves the folder"
    elif member.issym() or member.islnk():
        why = "a link"
    elif not (member.isfile() or member.isdir()):
        why = "a device, pipe or other special file"
    if why:
        raise TRMError(f"{label}: refused archive member {member.name!r}: {why}")
    return path


def extract_tar(archive: Path, dest: Path, label: str | None = None) -> None:
    """Extract the plain files and folders of a (gzipped) tar into ``dest``.

    Every member is checked first (see :func:`_check_member`), so a refused archive writes
    nothing; files are written with ordinary permissions, whatever the archive says."""
    label = label or str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [(m, _check_member(m, label)) for m in tar.getmembers()]
            for member, rel in members:
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise TRMError(f"{label}: broken archive ({type(e).__name__}: {e})") from None
