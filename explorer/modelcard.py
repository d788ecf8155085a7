"""Model cards: a markdown summary written beside every shipped checkpoint (``KIND-COLLECTION.md``)."""

from __future__ import annotations

import json
from pathlib import Path


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def model_card(ckpt: dict, path: Path, notes: str = "") -> str:
    """Config, data, training time and hardware, and metrics of a checkpoint, as markdown."""
    coll = ckpt.get("collection") or {}
    progress = ckpt.get("progress") or {}
    metrics = ckpt.get("metrics") or {}
    seconds = float(ckpt.get("train_seconds") or 0.0)
    lines = [
        f"# Model card: `{path.name}`",
        "",
        f"- **kind**: `{ckpt['kind']}` (see `explorer/models/{ckpt['kind']}.py`)",
        f"- **data**: collection `{coll.get('name')}` (fingerprint `{coll.get('fingerprint')}`), trained on the "
        f"`{coll.get('split', 'train')}` split ({coll.get('n_segments')} segments); model selection on val",
        f"- **inputs**: {json.dumps(ckpt.get('data_spec'))}",
        f"- **training**: {progress.get('epoch')} epochs, {progress.get('global_step')} steps, "
        f"{seconds / 60:.1f} min of training steps on {ckpt.get('hardware')}",
        f"- **versions**: {json.dumps(ckpt.get('versions'))}; created {ckpt.get('created')}",
        f"- **size**: {path.stat().st_size / 1e6:.1f} MB" if path.exists() else "",
        (f"- **inference-only release**: left out {', '.join(f'`{m}`' for m in ckpt['inference_only'])} "
         "(training-only modules that embedding never uses)") if ckpt.get("inference_only") else "",
        "",
        "## Metrics (hyperlinking: anchor = each segment of the split, relevance = same category)",
        "",
        "| metric | value |",
        "| --- | ---: |",
    ]
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                lines.append(f"| {key}.{sub} | {_fmt(v)} |")
        else:
            lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", "## Config", "", "```json", json.dumps(ckpt.get("config"), indent=2), "```", ""]
    if notes:
        lines += ["## Notes", "", notes, ""]
    lines += ["Reproduce: see README.md (`explorer train ...`, then `explorer release RUN/best.pt checkpoints/...`)."]
    return "\n".join(line for line in lines if line is not None) + "\n"
