"""The README's Table-1-style figure: typed transcripts (not from the collection), 8 noise draws each.

    python bench/figure_table1.py CHECKPOINT OUT.png [--seed 0]

Each row is one transcript, each column one noise vector (the same noise in every row), drawn by the
checkpoint's generator (EMA generator for gan_proj) and shown 2x enlarged (nearest neighbour).
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from explorer import api
from explorer.data.images import image_grid

TRANSCRIPTS = (
    "this flower has bright yellow petals",
    "this flower has purple petals",
    "red petals with a yellow center",
    "a white flower with many petals",
    "an orange flower with long thin petals",
    "a pink flower with round petals",
)


def figure(checkpoint: str, seed: int = 0, n: int = 8, scale: int = 2, label_width: int = 300) -> Image.Image:
    rows = []
    for text in TRANSCRIPTS:
        grid = image_grid(api.generate_images(checkpoint, text, n=n, seed=seed), ncols=n)  # same noise per row
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
        row = Image.new("RGB", (label_width + grid.width, grid.height), "white")
        row.paste(grid, (label_width, 0))
        ImageDraw.Draw(row).text((8, grid.height // 2 - 6), text, fill="black")
        rows.append(row)
    out = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    img = figure(args.checkpoint, seed=args.seed)
    img.save(args.out, optimize=True)
    print(f"wrote {args.out} ({img.width}x{img.height}, {np.prod(img.size)} px)")


if __name__ == "__main__":
    main()
