"""The HTML drift report of an endpoint: one picture of every monitored feature, reference
against live, and the drift score over the past checks (matplotlib, embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.deploy.local.drift import DriftResult, FeatureDrift
from compiler.deploy.local.monitor_state import DriftPoint

_REF, _CUR, _BAD = "#8c8c8c", "#1f77b4", "#d62728"


def _verdict(f: FeatureDrift) -> str:
    if f.method in ("ks", "chi2"):
        return f"{f.method} p={f.score:.3g} {'<' if f.drifted else '>='} {f.threshold:g}"
    return f"{f.method} {f.score:.3g} {'>' if f.drifted else '<='} {f.threshold:g}"


def _picture(
    result: DriftResult,
    reference: Mapping[str, Sequence[Any]],
    current: Mapping[str, Sequence[Any]],
    history: Sequence[DriftPoint],
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = len(result.features) + 1
    cols = min(3, panels)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax, f in zip(flat, result.features, strict=False):
        ref = np.asarray(reference[f.feature])
        cur = np.asarray(current[f.feature])
        if f.method == "chi2":
            cats = np.union1d(np.unique(ref), np.unique(cur))
            x = np.arange(len(cats))
            ax.bar(x - 0.2, [np.mean(ref == c) for c in cats], 0.4, color=_REF, label="reference")
            ax.bar(x + 0.2, [np.mean(cur == c) for c in cats], 0.4, color=_CUR, label="live")
            step = max(1, len(cats) // 8)
            ax.set_xticks(x[::step], [str(c) for c in cats[::step]])
        else:
            ref, cur = ref.astype(float), cur.astype(float)
            lo, hi = np.nanpercentile(np.concatenate([ref, cur]), [0.5, 99.5])
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
            ax.hist(ref, bins, density=True, color=_REF, alpha=0.55, label="reference")
            ax.hist(cur, bins, density=True, histtype="step", lw=2, color=_CUR, label="live")
        ax.set_title(f"{f.feature}\n{_verdict(f)}", fontsize=9, color=_BAD if f.drifted else "k")
        if f.drifted:
            for side in ax.spines.values():
                side.set_edgecolor(_BAD)
                side.set_linewidth(2)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    ax = flat[len(result.features)]
    shares = [p.drift_share if p.drift_share is not None else np.nan for p in history]
    ax.plot(range(len(shares)), shares, marker="o", color=_CUR)
    versions = [p.version for p in history]
    for i in range(1, len(versions)):
        if versions[i] != versions[i - 1]:
            ax.axvline(i - 0.5, color=_REF, ls="--")
            ax.text(i - 0.45, 0.95, f"v{versions[i]}", fontsize=7, color=_REF)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("share of drifted features, per check", fontsize=9)
    ax.tick_params(labelsize=7)
    for extra in flat[panels:]:
        extra.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write_report(
    path: Path,
    *,
    endpoint: str,
    version: int,
    checked_at: str,
    result: DriftResult,
    reference: Mapping[str, Sequence[Any]],
    current: Mapping[str, Sequence[Any]],
    history: Sequence[DriftPoint],
    action: str,
) -> None:
    """Write the report atomically (a reader never sees half of it)."""
    png = base64.b64encode(_picture(result, reference, current, history)).decode()
    verdict = f"DRIFT in {', '.join(result.drifted_features)}" if result.drifted else "no drift"
    rows = "".join(
        f"<tr class='{'bad' if f.drifted else ''}'><td>{html.escape(f.feature)}</td>"
        f"<td>{f.method}</td><td>{f.score:.4g}</td><td>{f.threshold:g}</td>"
        f"<td>{'yes' if f.drifted else 'no'}</td>"
        f"<td>{'' if f.reference_mean is None else f'{f.reference_mean:.4g}'}</td>"
        f"<td>{'' if f.current_mean is None else f'{f.current_mean:.4g}'}</td></tr>"
        for f in result.features
    )
    missing = (
        f"<p>Not in the logged requests: {html.escape(', '.join(result.missing))}</p>"
        if result.missing
        else ""
    )
    text = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>drift: {html.escape(endpoint)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 10px;text-align:left}}
tr.bad td{{color:#d62728;font-weight:bold}} .verdict{{font-size:1.3em}}</style></head>
<body><h1>{html.escape(endpoint)} (model version {version})</h1>
<p class="verdict">{html.escape(verdict)}: drift score {result.drift_share:.2f}
({sum(f.drifted for f in result.features)} of {len(result.features)} features),
{result.rows} logged rows, checked {html.escape(checked_at)}</p>
<p>{html.escape(action)}</p>
<img alt="reference against live inputs" src="data:image/png;base64,{png}">
<table><tr><th>feature</th><th>method</th><th>score</th><th>threshold</th><th>drift</th>
<th>reference mean</th><th>live mean</th></tr>{rows}</table>{missing}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".html.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
