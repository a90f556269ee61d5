"""Which decisions' choices decode to distinct proxy networks, per proxy decoding.

For every decision and every context (the choices of the decisions it depends on: the input
width for an expansion), the decoded proxy values of its choices; a decision "merges" when two of
its choices give the same network in some context. Also MAdds of the proxy (mean over random
architectures, and the widest path) and the supernet's max widths (its step cost: the masked
supernet always computes at the widest width of every layer).

Run: python proxy_distinct.py  (writes proxy_distinct.json and prints a table)
"""

import json
from pathlib import Path

import mhspace
import numpy as np
from mhspace import rhu

sp = mhspace.MHSpace()
PROXIES = {
    "cpu-proxy (w0.25, div32)": (0.25, 32),
    "w0.25 div16": (0.25, 16),
    "w0.25 div8": (0.25, 8),
    "w0.125 div8": (0.125, 8),
    "w0.5 div32": (0.5, 32),
    "w0.75 div32": (0.75, 32),
    "w1.0 div32": (1.0, 32),
    "w0.5 div16": (0.5, 16),
}


def analyse(w, div):
    rows = []
    for i, d in enumerate(sp.decisions):
        name = d.path.split("/")[-1]
        if d.tag == "filters":
            vals = [rhu(c * w, div) for c in d.choices]
            groups = {}
            for c, v in zip(d.choices, vals):
                groups.setdefault(v, []).append(c)
            rows.append(
                {
                    "i": i,
                    "path": d.path,
                    "tag": d.tag,
                    "distinct": len(groups),
                    "of": d.size,
                    "proxy": {str(k): v for k, v in groups.items()},
                }
            )
        elif name == "expansion":
            sl = next(s for s in sp.slots if s.ops and s.ops[2] == i)
            bases = [sl.cin_fixed] if sl.in_w is None else list(sp.decisions[sl.in_w].choices)
            worst, detail = d.size, {}
            for bi in bases:
                vals = [rhu(rhu(r * bi, 32) * w, div) for r in d.choices]
                detail[str(bi)] = vals
                worst = min(worst, len(set(vals)))
            rows.append(
                {
                    "i": i,
                    "path": d.path,
                    "tag": d.tag,
                    "distinct": worst,
                    "of": d.size,
                    "proxy_by_input_width": detail,
                }
            )
        else:  # op (ib / fused / skip) and kernel: different operations at any width
            rows.append({"i": i, "path": d.path, "tag": d.tag, "distinct": d.size, "of": d.size})
    return rows


rng = np.random.default_rng(0)
gen = np.stack([rng.integers(0, n, 2000) for n in sp.sizes], 1)
out = {}
for name, (w, div) in PROXIES.items():
    rows = analyse(w, div)
    merged = [r for r in rows if r["distinct"] < r["of"]]
    ma = np.array([mhspace.madds(sp.decode(g, w, div, 32, 1)) for g in gen]) / 1e6
    # widest path: per layer the max over choices (op ib, kernel 5, expansion 6, widest widths)
    wide = [0] * sp.n
    for j, d in enumerate(sp.decisions):
        wide[j] = (
            int(sp.widest[j])
            if d.tag == "filters"
            else (5 if d.path.endswith("expansion") else (1 if d.path.endswith("kernel") else 0))
        )
    ma_wide = mhspace.madds(sp.decode(wide, w, div, 32, 1)) / 1e6
    wide_f = list(wide)
    for j, d in enumerate(sp.decisions):
        if d.path.endswith("/op"):
            wide_f[j] = 1  # fused
    ma_wide_f = mhspace.madds(sp.decode(wide_f, w, div, 32, 1)) / 1e6
    blocks = sp.decode(wide, w, div, 32, 1)
    out[name] = {
        "width": w,
        "divisor": div,
        "merged_decisions": len(merged),
        "merged": [(r["path"], f"{r['distinct']}/{r['of']}") for r in merged],
        "madds_m_random_mean": round(float(ma.mean()), 2),
        "madds_m_random_p90": round(float(np.percentile(ma, 90)), 2),
        "madds_m_widest_ib": round(ma_wide, 2),
        "madds_m_widest_fused": round(ma_wide_f, 2),
        "widest_widths": [b.get("exp", b.get("cout")) for b in blocks if b["kind"] != "pool"],
        "rows": rows,
    }
    print(
        f"{name:28s} merged {len(merged):2d}/64  MAdds mean {ma.mean():6.2f} M  "
        f"widest ib {ma_wide:6.2f} M  widest fused {ma_wide_f:6.2f} M"
    )
    for p, c in out[name]["merged"]:
        print("     ", p, c)
Path("proxy_distinct.json").write_text(json.dumps(out, indent=1))
