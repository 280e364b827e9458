"""Canonical parameters: initialisation, checking, saving and loading.

Parameters are a ``dict`` of name -> float32 ``numpy`` array in the canonical layout
documented in :mod:`mnist_nets.specs` (conv kernels ``(kh, kw, in, out)``, dense
weights ``(in, out)``, biases ``(out,)``, flatten order H, W, C).  Every backend takes
such a dict in ``build`` and gives one back from ``export_params``.

Saved weights are ``.npz`` files read with ``allow_pickle=False``: one array per
parameter, plus ``__format__`` (this module's :data:`FORMAT_VERSION`) and
``__spec__`` (the spec as JSON, so a file is self-describing).  They are written to
a temporary file and renamed, so a file is either whole or absent.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from mnist_nets.data import DATASETS
from mnist_nets.fileio import atomic_open
from mnist_nets.specs import ModelSpec, SpecError

FORMAT_VERSION = 1
OUTPUT_STD = 0.01  # standard deviation of the output layer's initial weights
_META = ("__format__", "__spec__")
_DATASETS = tuple(DATASETS)

Params = dict[str, np.ndarray]


class ParamsError(ValueError):
    """Parameters that do not fit their spec, or a weights file that cannot be read.

    ``exit_code``: the command line's exit code for it (2, or 3 when the system refused
    to read the file).
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def is_weights_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file that looks like weights saved by :func:`save_params`
    (a zip archive holding ``__format__`` and ``__spec__``); reads only the zip directory."""
    path = Path(path)
    try:
        if path.is_symlink() or not path.is_file() or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return all(f"{meta}.npy" in names for meta in _META)


def _check_entry_sizes(path: Path) -> None:
    """Each array's header against the bytes stored: a header that claims more data than
    the archive holds is refused before anything is allocated."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                data_bytes = info.file_size - f.tell()  # what follows the header
            count = 1
            for n in shape:
                count *= int(n)
            if count * dtype.itemsize > data_bytes:
                raise ValueError(
                    f"entry {info.filename} claims shape {shape} ({count:,} values) but holds "
                    f"{data_bytes:,} bytes of data"
                )


def init_params(spec: ModelSpec, seed: int = 0) -> Params:
    """Initial parameters for ``spec``: the same arrays for the same seed, whatever the backend.

    Hidden layers' weights are drawn from a normal distribution with standard deviation
    ``sqrt(2 / fan_in)`` (He et al., 2015, suited to ReLU); the output layer's weights
    from one with standard deviation 0.01 (as AlexNet initialised its layers): small
    outputs at the start keep a narrow layer before them alive, where ``sqrt(1 / fan_in)``
    kills ``single_neuron``'s one ReLU neuron within the first epoch.  Biases start at
    zero.  Draws are float64 from ``numpy.random.default_rng(seed)`` in canonical
    parameter order, then cast to float32.
    """
    rng = np.random.default_rng(seed)
    output_layer = spec.parameters[-1].layer
    params: Params = {}
    for p in spec.parameters:
        if p.name.endswith(".bias"):
            params[p.name] = np.zeros(p.shape, dtype=np.float32)
        else:
            std = OUTPUT_STD if p.layer == output_layer else np.sqrt(2.0 / p.fan_in)
            params[p.name] = (rng.standard_normal(p.shape) * std).astype(np.float32)
    return params


def check_params(spec: ModelSpec, params: dict, where: str = "parameters") -> Params:
    """``params`` as float32 arrays, after checking every name and shape against ``spec``.

    Raises :class:`ParamsError` naming what is missing, unexpected or misshapen.
    """
    expected = spec.param_shapes
    missing = [n for n in expected if n not in params]
    extra = [n for n in params if n not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise ParamsError(
            f"{where} do not fit spec {spec.name!r}: {'; '.join(parts)} (expected {list(expected)})"
        )
    out: Params = {}
    for name, shape in expected.items():
        value = np.asarray(params[name])
        if value.shape != shape:
            raise ParamsError(
                f"{where}: {name} has shape {value.shape}, spec {spec.name!r} needs {shape} "
                "(canonical layout: conv (kh, kw, in, out), dense (in, out))"
            )
        if not np.issubdtype(value.dtype, np.floating):
            raise ParamsError(f"{where}: {name} has dtype {value.dtype}, expected floating point")
        out[name] = value.astype(np.float32, copy=False)
    return out


def weights_file_size(spec: ModelSpec) -> int:
    """About how many bytes :func:`save_params` writes for ``spec`` (a little more)."""
    spec_chars = len(json.dumps(spec.to_dict()))  # stored as UTF-32: 4 bytes a character
    return 4 * spec.param_count + 512 * (len(spec.parameters) + 3) + 4 * spec_chars


def save_params(
    path: str | os.PathLike, spec: ModelSpec, params: dict, *, dataset: str = "mnist"
) -> Path:
    """Write ``params`` (checked against ``spec``) to ``path`` as ``.npz``, atomically,
    with the name of the ``dataset`` they were trained on."""
    path = Path(path)
    checked = check_params(spec, params)
    arrays = {name: value for name, value in checked.items()}
    arrays["__format__"] = np.array(FORMAT_VERSION, dtype=np.int64)
    arrays["__spec__"] = np.array(json.dumps(spec.to_dict()))
    arrays["__dataset__"] = np.array(dataset)
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path


def load_params(path: str | os.PathLike, spec: ModelSpec | None = None) -> tuple[ModelSpec, Params]:
    """Read a file written by :func:`save_params`: ``(spec, params)``; see
    :func:`load_weights`."""
    stored_spec, params, _ = load_weights(path, spec)
    return stored_spec, params


def load_weights(
    path: str | os.PathLike, spec: ModelSpec | None = None
) -> tuple[ModelSpec, Params, str]:
    """Read a file written by :func:`save_params`: ``(spec, params, dataset)``; files
    saved before the dataset was recorded count as ``"mnist"``.

    The spec comes from the file; when ``spec`` is given, the file must hold
    parameters for it.  Every problem (missing file, not an ``.npz``, pickled
    content, wrong format version, missing or misshapen parameters, non-finite
    values) raises :class:`ParamsError` naming the file.
    """
    path = Path(path)
    hint = "save weights with mnist_nets.params.save_params or `mnist-nets train --out FILE`"
    if not path.is_file():
        raise ParamsError(f"{path}: no such weights file ({hint})")
    try:
        if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and say so
            raise ParamsError(
                f"{path}: not a readable .npz weights file (not a zip archive); {hint}"
            )
        try:
            _check_entry_sizes(path)
        except ValueError as exc:
            raise ParamsError(f"{path}: not a valid weights file: {exc}; {hint}") from None
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ParamsError:
        raise
    except PermissionError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror}", exit_code=3) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, MemoryError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParamsError(f"{path}: not a readable .npz weights file ({detail}); {hint}") from None
    for meta in _META:
        if meta not in arrays:
            raise ParamsError(f"{path}: no {meta} entry, so not a mnist_nets weights file; {hint}")
    fmt = arrays.pop("__format__")
    if fmt.shape != () or not np.issubdtype(fmt.dtype, np.integer):
        raise ParamsError(
            f"{path}: not a valid weights file: its __format__ entry is {fmt.dtype} of shape "
            f"{fmt.shape}, not one integer; {hint}"
        )
    version = int(fmt)
    if version != FORMAT_VERSION:
        raise ParamsError(
            f"{path}: weights format {version}, this version reads format {FORMAT_VERSION}"
        )
    dataset = arrays.pop("__dataset__", np.array("mnist"))
    if dataset.shape != () or dataset.dtype.kind != "U" or str(dataset) not in _DATASETS:
        raise ParamsError(
            f"{path}: not a valid weights file: its __dataset__ entry is not one of "
            f"{', '.join(_DATASETS)}; {hint}"
        )
    try:
        stored_spec = ModelSpec.from_dict(json.loads(str(arrays.pop("__spec__"))))
    except (json.JSONDecodeError, SpecError, TypeError, ValueError, AttributeError) as exc:
        raise ParamsError(f"{path}: the stored spec is malformed: {exc}") from None
    if spec is not None and spec.param_shapes != stored_spec.param_shapes:
        raise ParamsError(
            f"{path}: holds weights for {stored_spec.name!r} "
            f"({stored_spec.param_count:,} parameters), not for {spec.name!r}"
        )
    params = check_params(stored_spec, arrays, where=str(path))
    bad = [name for name, value in params.items() if not np.all(np.isfinite(value))]
    if bad:
        raise ParamsError(f"{path}: {bad} hold NaN or infinite values (a diverged run?)")
    return stored_spec, params, str(dataset)


def check_dataset(path: str | os.PathLike, trained_on: str, wanted: str | None) -> str:
    """The dataset to use weights trained on ``trained_on`` with: ``wanted`` (None: the same);
    a different one is refused (:class:`ParamsError`, exit code 2)."""
    if wanted is None or wanted == trained_on:
        return trained_on
    raise ParamsError(
        f"{path}: these weights were trained on {trained_on}, not {wanted}: their outputs "
        f"mean {trained_on} classes; drop --dataset or give --dataset {trained_on}"
    )
