"""`import mnist_nets`, the specs and the numpy backend work without any framework."""

import subprocess
import sys
import textwrap

from mnist_nets.backends.registry import framework_modules

FRAMEWORK_MODULES = framework_modules()  # torch, tensorflow, keras, jax, ...


def run_without_frameworks(code: str) -> subprocess.CompletedProcess:
    # sys.modules[name] = None makes `import name` fail as if it were not installed.
    prelude = f"import sys\nfor m in {FRAMEWORK_MODULES!r}:\n    sys.modules[m] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_specs_and_params_without_frameworks():
    result = run_without_frameworks(
        """
        from mnist_nets.specs import get_spec
        from mnist_nets.params import init_params
        import mnist_nets, mnist_nets.data, mnist_nets.training, mnist_nets.backends
        spec = get_spec('cnn')
        print(spec)
        print(sum(v.size for v in init_params(spec, 0).values()))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ModelSpec(name='cnn'" in result.stdout
    assert "431080" in result.stdout


def test_plain_import_loads_no_framework():
    code = (
        "import sys, mnist_nets, mnist_nets.specs, mnist_nets.params, mnist_nets.data, "
        "mnist_nets.training, mnist_nets.backends, mnist_nets.cli\n"
        f"print(sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_missing_framework_gives_an_install_hint():
    result = run_without_frameworks(
        """
        from mnist_nets.backends import get_backend, BackendUnavailable
        try:
            get_backend('torch')
        except BackendUnavailable as exc:
            print('unavailable:', exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "unavailable: the torch backend needs torch" in result.stdout
    assert "requirements.txt" in result.stdout
