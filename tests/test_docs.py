"""The pages hold no drifted names, and the package holds no lab notes.

What README.md and docs/*.md name must exist:

* **links and images**: every relative target of a Markdown link, image or HTML
  ``href``/``src`` (URLs with a scheme, ``mailto:`` and the like are not checked), resolved
  from the page's folder, and its ``#fragment`` where the target is a Markdown page: a
  heading of that page, slugged as GitHub slugs them;
* **repository paths** in code spans and fenced code blocks: a word that starts with one
  of the repository's folders (:data:`PATH_ROOTS`, e.g. ``mnist_nets/specs.py``,
  ``bench/results/``, ``assets/dnn.png``).  Any other path (``w.npz``, ``notes.md``,
  ``/dev/full``) is an example and is not checked.  A glob (``bench/results/*.json``)
  must match a file; from a placeholder on (``...``, ``<N>``, ``{a,b}``, ``NNNN``) only
  the folder before it is checked; ``::test_name`` and ``:line`` suffixes are dropped;
* **dotted names** ``mnist_nets.…`` anywhere in the text, code or not: the module part
  is found with :func:`importlib.util.find_spec` (which imports only the packages above
  it, never a backend's framework) and the attributes after it in the module's source
  with :mod:`ast`, following ``from ... import`` re-exports and walking into classes
  (methods, class attributes, dataclass fields, ``self.x = ...`` in methods).

Every problem is reported at once, each with its file and line.
"""

from __future__ import annotations

import ast
import functools
import glob
import importlib.util
import itertools
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mnist_nets"

#: the folders whose paths are checked; a word naming another folder is an example
PATH_ROOTS = ("mnist_nets", "bench", "tests", "docs", "assets", ".ci")

_PATH = re.compile(
    r"(?<![\w./~$-])((?:" + "|".join(re.escape(r) for r in PATH_ROOTS) + r")/[^\s`'\"()\[\]<>,;|]*)"
)
_DOTTED = re.compile(r"(?<![\w./-])mnist_nets(?:\.[A-Za-z_]\w*)+")
_PLACEHOLDER = re.compile(r"\.\.\.|…|<|\{|NNN|XXX")
_HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


@dataclass(frozen=True)
class Problem:
    page: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {self.what}"


# --------------------------------------------------------------------------- Markdown


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _line_of(lines: list[str], span: list[int] | None, needle: str) -> int:
    """The 1-based line of ``needle`` within the block's lines ``span`` (its first line
    when a line break splits it)."""
    if not span:
        return 1
    start, end = span
    for i in range(start, min(end, len(lines))):
        if needle in lines[i]:
            return i + 1
    return start + 1


def _inline_text(token) -> str:
    return "".join(c.content for c in token.children or () if c.type in ("text", "code_inline"))


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters,
    digits, ``_``, ``-`` and spaces kept), spaces turned into hyphens."""
    text = text.strip().lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_"
        or unicodedata.category(ch)[0] in ("L", "N")
        or unicodedata.category(ch) == "Mn"
    )
    return kept.replace(" ", "-")


def anchors(page: Path) -> frozenset[str]:
    """The heading anchors of ``page``, duplicates numbered as GitHub numbers them."""
    return anchors_of(page.read_text(encoding="utf-8"))


@functools.cache
def anchors_of(text: str) -> frozenset[str]:
    tokens = _markdown().parse(text)
    seen: dict[str, int] = {}
    out = set()
    for prev, tok in itertools.pairwise(tokens):
        if prev.type == "heading_open" and tok.type == "inline":
            slug = github_slug(_inline_text(tok))
            n = seen.get(slug, 0)
            out.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    # explicit anchors: <a name="x"> / id="x"
    out.update(re.findall(r"""<a\s+(?:name|id)\s*=\s*["']([^"']+)["']""", text))
    return frozenset(out)


@dataclass
class Found:
    line: int
    text: str
    kind: str  # "link", "code" or "text"


def scan(source: str) -> list[Found]:
    """Link targets, code (spans and fenced blocks, line by line) and plain text of a page."""
    lines = source.splitlines()
    found: list[Found] = []
    for tok in _markdown().parse(source):
        if tok.type in ("fence", "code_block"):
            first = (tok.map[0] + 1 + (tok.type == "fence")) if tok.map else 1
            for i, line in enumerate(tok.content.splitlines()):
                found.append(Found(first + i, line, "code"))
        elif tok.type == "html_block":
            for m in _HTML_LINK.finditer(tok.content):
                found.append(Found(_line_of(lines, tok.map, m.group(0)), m.group(1), "link"))
        elif tok.type == "inline":
            for child in tok.children or ():
                if child.type == "code_inline":
                    where = _line_of(lines, tok.map, child.content)
                    found.append(Found(where, child.content, "code"))
                elif child.type in ("link_open", "image"):
                    target = child.attrGet("href" if child.type == "link_open" else "src")
                    if target is not None:
                        found.append(Found(_line_of(lines, tok.map, target), str(target), "link"))
                elif child.type == "html_inline":
                    for m in _HTML_LINK.finditer(child.content):
                        where = _line_of(lines, tok.map, m.group(0))
                        found.append(Found(where, m.group(1), "link"))
                elif child.type == "text":
                    found.append(
                        Found(_line_of(lines, tok.map, child.content), child.content, "text")
                    )
    return found


# --------------------------------------------------------------------------- paths


def check_link(page: Path, target: str, text: str = "") -> str | None:
    """What is wrong with the link ``target`` on ``page`` (whose source is ``text``), or None."""
    if _SCHEME.match(target) or target.startswith("//"):
        return None  # a URL: not this test's business
    path_part, _, fragment = target.partition("#")
    from urllib.parse import unquote

    path_part = unquote(path_part)
    dest = (page.parent / path_part).resolve() if path_part else page
    if path_part:
        try:
            dest.relative_to(ROOT)
        except ValueError:
            return f"link {target!r} leaves the repository"
        if not dest.exists():
            return f"link {target!r}: {dest.relative_to(ROOT)} does not exist"
    if fragment and dest.suffix == ".md" and (dest.is_file() or not path_part):
        known = anchors_of(text) if not path_part else anchors(dest)
        if fragment.lower() not in known:
            return f"link {target!r}: no heading #{fragment} in {dest.relative_to(ROOT)}"
    return None


def repo_paths(text: str) -> list[str]:
    """The repository paths named in a piece of code (see the module's docstring)."""
    return [m.group(1) for m in _PATH.finditer(text)]


def check_path(word: str) -> str | None:
    """What is wrong with the repository path ``word``, or None."""
    path = re.sub(r"::.*$", "", word)  # pytest node ids
    path = re.sub(r":\d+(?::\d+)?$", "", path)  # file:line
    path = path.rstrip(".:!?")
    m = _PLACEHOLDER.search(path)
    if m:  # only the folder before the placeholder is known
        path = path[: m.start()].rsplit("/", 1)[0]
    if not path:
        return None
    if any(c in path for c in "*?["):
        if not glob.glob(str(ROOT / path), recursive=True):
            return f"path {word!r}: matches no file"
        return None
    if not (ROOT / path).exists():
        return f"path {word!r} does not exist"
    return None


# --------------------------------------------------------------------------- dotted names


def _module_source(name: str) -> tuple[ast.Module, bool] | None:
    """The parsed source of module ``name`` and whether it is a package, or None when no
    such module exists.  Only the packages above ``name`` are imported."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    source = Path(spec.origin).read_text(encoding="utf-8")
    return ast.parse(source), spec.submodule_search_locations is not None


def _definitions(body: list[ast.stmt], in_class: bool = False) -> dict[str, ast.AST]:
    """The names a module or class body defines (into if/try/with blocks), with the node
    that defines each; in a class, the ``self.x = ...`` of its methods too."""
    out: dict[str, ast.AST] = {}

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, (ast.Tuple, ast.List)):
            return [n for elt in node.elts for n in targets(elt)]
        return []

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.setdefault(node.name, node)
                if in_class and not isinstance(node, ast.ClassDef):
                    for sub in ast.walk(node):
                        if isinstance(sub, (ast.Assign, ast.AnnAssign)):
                            for t in sub.targets if isinstance(sub, ast.Assign) else [sub.target]:
                                if (
                                    isinstance(t, ast.Attribute)
                                    and isinstance(t.value, ast.Name)
                                    and t.value.id == "self"
                                ):
                                    out.setdefault(t.attr, sub)
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    for n in targets(t):
                        out.setdefault(n, node)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                for n in targets(node.target):
                    out.setdefault(n, node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    out.setdefault(alias.asname or alias.name.split(".")[0], node)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    out.setdefault(alias.asname or alias.name, node)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(body)
    return out


def _imported(node: ast.ImportFrom, module: str, is_package: bool, name: str) -> str:
    """The dotted name that ``from ... import name`` in ``module`` refers to."""
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    original = next(a.name for a in node.names if (a.asname or a.name) == name)
    return f"{source}.{original}"


@functools.cache
def check_dotted(dotted: str, _depth: int = 0) -> str | None:
    """What is wrong with the dotted name ``dotted``, or None when it exists."""
    parts = dotted.split(".")
    module, parsed = parts[0], _module_source(parts[0])
    if parsed is None:
        return f"{dotted}: no module {parts[0]}"
    i = 1
    while i < len(parts) and parsed[1]:  # a package: is the next part a submodule?
        sub = _module_source(".".join(parts[: i + 1]))
        if sub is None:
            break
        module, parsed, i = ".".join(parts[: i + 1]), sub, i + 1
    tree, is_package = parsed
    top = _definitions(tree.body)
    body: list[ast.stmt] = tree.body
    cls: ast.ClassDef | None = None
    where = module
    for j in range(i, len(parts)):
        name = parts[j]
        rest = parts[j + 1 :]
        node = _definitions(body, cls is not None).get(name)
        if node is None and cls is not None and _depth < 10:
            # inherited? look in the base classes this module defines or imports
            for base in cls.bases:
                if not isinstance(base, ast.Name) or base.id not in top:
                    continue
                found = top[base.id]
                if isinstance(found, ast.ImportFrom):
                    base_name = _imported(found, module, is_package, base.id)
                elif isinstance(found, ast.ClassDef):
                    base_name = f"{module}.{base.id}"
                else:
                    continue
                if check_dotted(".".join([base_name, name, *rest]), _depth + 1) is None:
                    return None
        if node is None:
            return f"{dotted}: {where} has no {name!r}"
        if isinstance(node, ast.ImportFrom) and cls is None:
            if _depth > 10:
                return None
            target = _imported(node, module, is_package, name)
            if not target.startswith("mnist_nets."):
                return None  # re-exported from another library: not ours to check
            problem = check_dotted(".".join([target, *rest]), _depth + 1)
            return problem and f"{dotted}: {problem}"
        if isinstance(node, ast.Import) or not rest:
            return None
        if not isinstance(node, ast.ClassDef):
            return (
                f"{dotted}: {where}.{name} is neither a module nor a class: {rest[0]!r} is unknown"
            )
        body, cls, where = node.body, node, f"{where}.{name}"
    return None


# --------------------------------------------------------------------------- the checks


def problems_of(page: Path, text: str | None = None) -> list[Problem]:
    """The drifted names of ``page``; with ``text``, of that text as if it were ``page``
    (which then need not exist)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems: list[Problem] = []
    for f in scan(text):
        if f.kind == "link":
            what = check_link(page, f.text, text)
            if what:
                problems.append(Problem(page, f.line, what))
            continue
        if f.kind == "code":
            for word in repo_paths(f.text):
                what = check_path(word)
                if what:
                    problems.append(Problem(page, f.line, what))
        for m in _DOTTED.finditer(f.text):
            what = check_dotted(m.group(0))
            if what:
                problems.append(Problem(page, f.line, what))
    return problems


def test_pages_name_only_what_exists():
    problems = [p for page in pages() for p in problems_of(page)]
    assert not problems, f"{len(problems)} drifted name(s):\n" + "\n".join(map(str, problems))


# ----------------------------------------------------------- the checker's own behaviour


#: where the checker's own tests pretend their page is (it is never written)
FAKE_PAGE = ROOT / "docs" / "_drift_test.md"


def test_every_kind_of_drift_is_reported_with_its_line():
    text = (
        "# Title\n"
        "\n"
        "The spec is `mnist_nets.specs.get_spec` and the registry "
        "`mnist_nets.backends._MODULES`.\n"
        "See [the specs](../mnist_nets/specs.py), [nowhere](../mnist_nets/nowhere.py),\n"
        "[a heading](#title), [no heading](#no-such-heading), ![a plot](../assets/none.png).\n"
        "\n"
        "| file | what |\n"
        "|---|---|\n"
        "| `mnist_nets/specs.py` | specs |\n"
        "| `mnist_nets/spec.py` | drifted |\n"
        "\n"
        "```console\n"
        "$ mnist-nets train --out w.npz  # an example path: not checked\n"
        "$ python bench/report.py --check\n"
        "$ python bench/reports.py\n"
        "```\n"
        "Text naming mnist_nets.training.fit and mnist_nets.training.fitt.\n"
        "[a site](https://example.com/x.md) `bench/results/*/*.json` `tests/test_docs.py::test_x`\n"
        "`mnist_nets.backends.registry.Framework.label` `mnist_nets.backends.Backend.train`\n"
        "`mnist_nets.backends.Backend.tran` `mnist_nets.specs.ModelSpec.recipe`\n"
    )
    problems = problems_of(FAKE_PAGE, text)
    got = sorted((p.line, p.what) for p in problems)
    assert [line for line, _ in got] == [3, 4, 5, 5, 10, 15, 17, 20], got
    report = "\n".join(str(p) for p in problems)
    for needle in (
        "mnist_nets.backends._MODULES",
        "nowhere.py",
        "#no-such-heading",
        "none.png",
        "'mnist_nets/spec.py'",
        "'bench/reports.py'",
        "mnist_nets.training.fitt",
        "mnist_nets.backends.Backend.tran",
    ):
        assert needle in report, (needle, report)
    assert "docs/_drift_test.md:3: mnist_nets.backends._MODULES" in report


def test_placeholders_and_examples_are_not_paths():
    assert check_path("bench/results/NNNN_smoke.json") is None
    assert check_path("bench/results/<machine>/0001.json") is None
    assert check_path("bench/results/...") is None
    assert check_path("mnist_nets/specs.py:12") is None
    assert repo_paths("--out w.npz --out M-F.npz /dev/full ~/.cache/mnist_nets/x") == []
    assert repo_paths("see bench/report.py, then") == ["bench/report.py"]
    assert check_path("bench/nothing/<x>.json") is not None


def test_backend_names_resolve_without_importing_a_framework():
    from mnist_nets.backends.registry import FRAMEWORKS

    for f in FRAMEWORKS:
        assert check_dotted(f"{f.module}.{f.cls}") is None, f
        assert check_dotted(f"{f.module}.{f.cls}.train_epoch") is None, f
        assert check_dotted(f"{f.module}.{f.cls}.train") is None, f  # inherited from Backend
        assert check_dotted(f"{f.module}.NoSuchBackend") is not None, f
    # in a fresh process, so that a framework imported by another test cannot hide one
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_docs\n"
        "from mnist_nets.backends.registry import FRAMEWORKS, framework_modules\n"
        "for f in FRAMEWORKS:\n"
        "    assert test_docs.check_dotted(f'{f.module}.{f.cls}.train_epoch') is None\n"
        "print(sorted(m for m in framework_modules() if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_github_slugs():
    assert github_slug("Fastest to 99 %") == "fastest-to-99-"
    assert github_slug("`single_neuron`: the literal reading, mean squared error") == (
        "single_neuron-the-literal-reading-mean-squared-error"
    )
    assert github_slug("numpy against the frameworks") == "numpy-against-the-frameworks"


# --------------------------------------------------------------------------- lab notes

#: a benchmark run's number (runs are numbered 0001, 0002, ...), an issue's number, or a
#: stored run cited as evidence: what a page of history holds, not a comment
_LAB_NOTE = re.compile(
    r"\bruns?\s+0\d{3}\b|\b0\d{3}\s+(?:against|vs\.?)\s+(?:run\s+)?0\d{3}\b"
    r"|\bissues?\s+#?\d+|\bstored run\b|#\d{1,4}\b(?![0-9a-fA-F])",
    re.IGNORECASE,
)


def lab_notes(root: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _LAB_NOTE.search(line):
                out.append(f"{path.relative_to(root.parent)}:{n}: {line.strip()}")
    return out


def test_the_package_carries_no_run_or_issue_numbers():
    notes = lab_notes()
    assert not notes, (
        "comments say what the code does and why; which run or issue measured what goes to "
        "docs/history.md or a commit message:\n" + "\n".join(notes)
    )


def test_lab_notes_are_recognised(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "x = 1  # issue 13's floor\n"
        "# measured in stored run 0009\n"
        "# (run 0018 against run 0014)\n"
        "# warm-up 15 % until run 0020\n"
        "# see issue #7\n"
        "colour = '#4c72b0'  # a colour, not an issue\n"
        "# runs 2 threads; 0.0015 and 2026 are numbers\n"
    )
    assert [line.split(":")[1] for line in lab_notes(pkg)] == ["1", "2", "3", "4", "5"]
