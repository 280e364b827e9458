"""Render README.md and docs/*.md as a reader sees them, to look at them before committing.

    .venv/bin/python docs/render.py [PAGE.md ...] [--out DIR] [--width PX] [--no-screenshots]
    make docs-render

Each page is turned into HTML with markdown-it-py (CommonMark with GitHub's tables and
strikethrough, headings given GitHub's anchors, links to ``.md`` pages pointed at their
HTML, images at the repository's files) and styled roughly as GitHub styles a README:
a column 830 pixels wide (a README on a repository's front page), tables and code
blocks that scroll sideways when too wide.
Headless Chromium (``/usr/bin/chromium``, or ``--chromium``) then

* measures each page and lists, on stdout, what a reader would trip on: tables and code
  blocks wider than the column (they scroll sideways), images that did not load, and
  links to a heading that is not there;
* takes a screenshot of the whole page and cuts it into screen-sized PNGs
  (``DIR/png/PAGE-01.png``, ...).

The HTML and PNGs go to ``--out`` (default: a new folder under the system's temporary
folder), whose path is printed last.  Not part of ``make test``: it needs Chromium.
Exit status 0 when nothing was found, 1 when something was, 2 when Chromium failed.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import quote, unquote

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent

CSS = """
body { margin: 0; background: #fff; color: #1f2328;
  font: 16px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
main { box-sizing: border-box; max-width: 894px; margin: 0 auto; padding: 32px; }
h1, h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h1, h2, h3, h4, h5, h6 { margin: 24px 0 16px; font-weight: 600; line-height: 1.25; }
h1 { font-size: 2em; } h2 { font-size: 1.5em; } h3 { font-size: 1.25em; } h4 { font-size: 1em; }
p, ul, ol, table, pre, blockquote { margin: 0 0 16px; }
a { color: #0969da; text-decoration: none; }
code, pre { font: 85%/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #818b981f; border-radius: 6px; padding: .2em .4em; }
pre { background: #f6f8fa; border-radius: 6px; padding: 16px; overflow: auto; }
pre code { background: none; padding: 0; font-size: 100%; }
table { border-collapse: collapse; display: block; width: max-content; max-width: 100%;
  overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
img { max-width: 100%; }
blockquote { color: #59636e; border-left: .25em solid #d1d9e0; padding: 0 1em; margin-left: 0; }
.trip { outline: 3px solid #cf222e; }
"""

# Runs in the page after it has loaded: what a reader would trip on, as JSON in #probe.
PROBE = """
window.addEventListener('load', () => {
  const main = document.querySelector('main'), style = getComputedStyle(main);
  const col = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const out = {height: document.documentElement.scrollHeight, column: col, wide: [],
               images: [], anchors: []};
  const where = (el) => {
    let h = el; while (h && !/^H[1-6]$/.test(h.tagName)) h = h.previousElementSibling;
    return h ? h.textContent.trim().slice(0, 60) : '(top)';
  };
  document.querySelectorAll('main table, main pre').forEach((el) => {
    if (el.scrollWidth > el.clientWidth + 1) {
      el.classList.add('trip');
      out.wide.push({tag: el.tagName.toLowerCase(), width: el.scrollWidth,
                     shown: el.clientWidth, under: where(el),
                     text: el.textContent.trim().slice(0, 50)});
    }
  });
  document.querySelectorAll('img').forEach((img) => {
    if (!img.complete || img.naturalWidth === 0) {
      img.classList.add('trip');
      out.images.push(img.getAttribute('src'));
    }
  });
  document.querySelectorAll('a[href^="#"]').forEach((a) => {
    const id = decodeURIComponent(a.getAttribute('href').slice(1));
    if (id && !document.getElementById(id)) out.anchors.push(a.getAttribute('href'));
  });
  const probe = document.createElement('pre');
  probe.id = 'probe'; probe.hidden = true; probe.textContent = JSON.stringify(out);
  document.body.appendChild(probe);
});
"""


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading (as ``tests/test_docs.py`` computes it)."""
    kept = "".join(
        ch
        for ch in text.strip().lower()
        if ch in " -_"
        or unicodedata.category(ch)[0] in ("L", "N")
        or unicodedata.category(ch) == "Mn"
    )
    return kept.replace(" ", "-")


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def to_html(page: Path, out: Path) -> str:
    """``page`` as a standalone HTML document written for the folder ``out`` mirrors."""
    md = _markdown()
    tokens = md.parse(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            text = "".join(
                c.content for c in tokens[i + 1].children or () if c.type in ("text", "code_inline")
            )
            slug = github_slug(text)
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            tok.attrSet("id", slug if n == 0 else f"{slug}-{n}")
        if tok.type != "inline":
            continue
        for child in tok.children or ():
            attr = "href" if child.type == "link_open" else "src" if child.type == "image" else None
            if attr is None:
                continue
            target = str(child.attrGet(attr) or "")
            if not target or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//|^#", target):
                continue
            path, _, fragment = target.partition("#")
            dest = (page.parent / unquote(path)).resolve()
            if dest.suffix == ".md" and dest.is_relative_to(ROOT):
                # another page: its rendering, beside this one's in the mirror
                rel = dest.relative_to(ROOT).with_suffix(".html")
                new = (out / rel).as_uri()
            else:  # a file of the repository (an image, a source file): the file itself
                new = dest.as_uri()
            child.attrSet(attr, new + (f"#{quote(fragment)}" if fragment else ""))
    body = md.renderer.render(tokens, md.options, {})
    title = html.escape(page.relative_to(ROOT).as_posix())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main>"
        f"<script>{PROBE}</script></body></html>"
    )


def chromium(binary: str, width: int, height: int, *args: str) -> subprocess.CompletedProcess:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        f"--window-size={width},{height}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def measure(binary: str, width: int, html_file: Path) -> dict:
    result = chromium(binary, width, 900, "--dump-dom", html_file.as_uri())
    m = re.search(r'<pre id="probe" hidden="">(.*?)</pre>', result.stdout, re.S)
    if result.returncode != 0 or not m:
        raise RuntimeError(
            f"chromium could not load {html_file}: {result.stderr.strip()[-300:] or 'no output'}"
        )
    return json.loads(html.unescape(m.group(1)))


def screenshot(binary: str, width: int, height: int, html_file: Path, png_dir: Path) -> list[Path]:
    """The whole page, cut into pieces of about one screen (1,000 pixels) each."""
    from PIL import Image

    full = png_dir / f"{html_file.stem}-full.png"
    result = chromium(binary, width, height, f"--screenshot={full}", html_file.as_uri())
    if result.returncode != 0 or not full.exists():
        raise RuntimeError(f"chromium took no screenshot of {html_file}: {result.stderr[-300:]}")
    pieces = []
    with Image.open(full) as image:
        step = 1000
        for i, top in enumerate(range(0, image.height, step), 1):
            piece = png_dir / f"{html_file.stem}-{i:02d}.png"
            image.crop((0, top, image.width, min(top + step, image.height))).save(piece)
            pieces.append(piece)
    full.unlink()
    return pieces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="default: README.md and docs/*.md")
    parser.add_argument("--out", type=Path, help="default: a new temporary folder")
    parser.add_argument("--width", type=int, default=1280, help="window width (default 1280)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--no-screenshots", action="store_true", help="measure only")
    args = parser.parse_args(argv)
    if shutil.which(args.chromium) is None:
        print(f"render: no Chromium at {args.chromium}; give one with --chromium", file=sys.stderr)
        return 2
    pages = [p.resolve() for p in args.pages] or [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    out = args.out or Path(tempfile.mkdtemp(prefix="mnist_nets-pages-"))
    png_dir = out / "png"
    png_dir.mkdir(parents=True, exist_ok=True)
    html_files = []
    for page in pages:
        target = out / page.relative_to(ROOT).with_suffix(".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_html(page, out), encoding="utf-8")
        html_files.append((page, target))
    trips = 0
    for page, target in html_files:
        name = page.relative_to(ROOT).as_posix()
        try:
            probe = measure(args.chromium, args.width, target)
            shots = (
                []
                if args.no_screenshots
                else screenshot(args.chromium, args.width, probe["height"], target, png_dir)
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"render: {name}: {exc}", file=sys.stderr)
            return 2
        found = len(probe["wide"]) + len(probe["images"]) + len(probe["anchors"])
        trips += found
        print(
            f"{name}: {probe['height']:,} px tall, column {probe['column']} px"
            + (f", {len(shots)} screenshots" if shots else "")
            + (f"; {found} to look at:" if found else "; nothing found")
        )
        for w in probe["wide"]:
            print(
                f"  {w['tag']} {w['width']} px wide in {w['shown']} px (under "
                f'"{w["under"]}"): {w["text"]!r}'
            )
        for src in probe["images"]:
            print(f"  image did not load: {src}")
        for href in probe["anchors"]:
            print(f"  link to a missing heading: {href}")
    print(f"HTML and screenshots in {out}")
    return 1 if trips else 0


if __name__ == "__main__":
    sys.exit(main())
