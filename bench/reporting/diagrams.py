"""Architecture diagrams drawn from the specs: plain SVG text, one box per layer.

Each box shows the layer's name and settings, its output shape and its parameter
count; the input is on top, the ten outputs at the bottom.  The text depends only on
``spec.layer_infos``, so the same spec always gives the same file.
"""

from __future__ import annotations

from html import escape

from mnist_nets.specs import ModelSpec, _short

WIDTH = 600
ROW = 34
GAP = 10
TOP = 44
FILL = {
    "input": "#eeeeee",
    "conv": "#c6dbef",
    "dense": "#c7e9c0",
    "pool": "#fdd0a2",
    "relu": "#f2f2f2",
    "flatten": "#f2f2f2",
    "dropout": "#fcbba1",
    "crop": "#eeeeee",
}


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def svg(spec: ModelSpec) -> str:
    """The diagram of ``spec`` as an SVG document (a string ending in a newline)."""
    rows = [("input", "input", "images", _shape(spec.input_shape), "")]
    for info in spec.layer_infos:
        n = sum(p.size for p in info.params)
        rows.append(
            (
                info.layer.kind,
                info.name,
                _short(info.layer),
                _shape(info.output_shape),
                f"{n:,} params" if n else "",
            )
        )
    height = TOP + len(rows) * (ROW + GAP) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="13">',
        f"<title>{escape(spec.name)}: {escape(spec.description)}</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{WIDTH // 2}" y="26" text-anchor="middle" font-size="16" '
        f'font-weight="bold">{escape(spec.name)}</text>',
    ]
    x0, x1 = 20, WIDTH - 20
    for i, (kind, name, what, shape, params) in enumerate(rows):
        y = TOP + i * (ROW + GAP)
        if i:
            ay = y - GAP
            out.append(
                f'<line x1="{WIDTH // 2}" y1="{ay}" x2="{WIDTH // 2}" y2="{y}" '
                'stroke="#555555" stroke-width="1.5"/>'
            )
        out.append(
            f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{ROW}" rx="5" '
            f'fill="{FILL.get(kind, "#ffffff")}" stroke="#555555"/>'
        )
        ty = y + ROW // 2 + 5
        out.append(f'<text x="{x0 + 10}" y="{ty}" font-weight="bold">{escape(name)}</text>')
        out.append(f'<text x="{x0 + 90}" y="{ty}">{escape(what)}</text>')
        out.append(f'<text x="{x1 - 130}" y="{ty}" text-anchor="end">{escape(shape)}</text>')
        if params:
            out.append(f'<text x="{x1 - 10}" y="{ty}" text-anchor="end">{escape(params)}</text>')
    total = (
        f"{spec.param_count:,} parameters · {spec.flops_forward / 1e6:.3g} MFLOPs forward per image"
    )
    out.append(
        f'<text x="{WIDTH // 2}" y="{height - 12}" text-anchor="middle" '
        f'fill="#333333">{escape(total)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
