"""Model cards (``README.md``) for checkpoints and Hub repos, in the Hugging Face card format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["benchmark_table", "model_card"]


def benchmark_table(rows: Any) -> str:
    """A markdown table from benchmark rows.

    Args:
        rows: a markdown string (returned as is), a list of dicts (one row each, columns in the
            order of first appearance), or a dict ``{row label: {column: value}}``.
    """
    if rows is None:
        return ""
    if isinstance(rows, str):
        return rows.strip()
    if isinstance(rows, Mapping):
        rows = [{"": k, **dict(v)} for k, v in rows.items()]
    if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
        raise ValueError("benchmarks must be a markdown string, a list of dicts or a dict of "
                         "dicts")
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _counts(model: Any) -> tuple[float, float] | None:
    """Table-1 params and MAdds (millions) of a model built by mhzoo, from its build config."""
    from mhzoo.counting import count_layers

    cfg = getattr(model, "mhzoo_config", None)
    if cfg is None:
        return None
    h, w, c = cfg.input_shape
    try:
        layers = count_layers(cfg.spec, (h or 224, w or 224), c, cfg.num_classes or 1001)
    except Exception:  # counts are informative; a card is still useful without them
        return None
    return sum(lc.weights for lc in layers) / 1e6, sum(lc.madds for lc in layers) / 1e6


def model_card(model: Any, config: Mapping[str, Any], *, benchmarks: Any = None,
               repo_id: str | None = None) -> str:
    """README.md text: YAML header, architecture, params / MAdds, preprocessing, usage."""
    arch = config.get("architecture") or model.arch_spec.name
    width = float(config.get("width") or 1.0)
    pcfg = dict(config.get("pretrained_cfg") or {})
    source = dict(config.get("source") or {})
    license_ = pcfg.get("license") or "apache-2.0"
    counts = _counts(model)
    shape = pcfg.get("input_size") or [224, 224, 3]
    lines = [
        "---",
        "library_name: mhzoo",
        f"license: {license_}",
        "tags:",
        "- image-classification",
        "- keras",
        "- mhzoo",
        "---",
        "",
        f"# {arch} (width {width:g})",
        "",
        f"`{arch}` at width multiplier {width:g}, saved by mhzoo "
        "(`model.safetensors` keyed by mhzoo's stable variable names + `config.json`).",
        "",
        "## Model details",
        "",
        f"- Architecture: `{model.arch_spec.name}` "
        f"({model.arch_spec.description or 'see config.json spec'})",
        f"- Input: {shape[0]}x{shape[1]}x{shape[2]} RGB",
        f"- Classes: {config.get('num_classes')}",
    ]
    if counts is not None:
        lines.append(f"- Params: {counts[0]:.3f} M (kernels only, incl. classifier; the "
                     "paper's Table 1 convention)")
        lines.append(f"- MAdds: {counts[1]:.1f} M at {shape[0]}x{shape[1]}")
    lines.append(f"- Keras parameters (incl. BN statistics): {int(model.count_params()):,}")
    if source:
        desc = ", ".join(f"{k}: {v}" for k, v in source.items() if v is not None)
        lines.append(f"- Source: {desc}")
    lines += ["", "## Preprocessing", ""]
    if "mean" in pcfg:
        lines.append(f"- mean {pcfg['mean']}, std {pcfg['std']} (0-255 pixel units; inside the "
                     "model unless `include_preprocessing=False`)")
    for key in ("interpolation", "crop_pct", "crop_mode"):
        if key in pcfg:
            lines.append(f"- {key}: {pcfg[key]}")
    table = benchmark_table(benchmarks)
    if table:
        lines += ["", "## Benchmarks", "", table]
    target = f"hf-hub:{repo_id}" if repo_id else "<this folder>"
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "import mhzoo",
        f'model = mhzoo.build("{arch}", weights="{target}")',
        "```",
        "",
    ]
    return "\n".join(lines)
