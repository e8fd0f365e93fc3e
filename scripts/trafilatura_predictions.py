#!/usr/bin/env python3
"""Runs trafilatura over a WCXB-format folder and writes one prediction per
page, for `cargo run --release --example wcxb_eval -- DIR --other
trafilatura=OUT` to score beside tidings in the same run. A ScrapingHub-format
folder (`ground-truth.json` beside `<id>.html`) is read too, for its speed.

    python3 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install trafilatura
    /tmp/tvenv/bin/python scripts/trafilatura_predictions.py DIR OUT

It also prints trafilatura's pages per second on one core (extraction only,
the pages already in memory), to compare with `cargo bench --bench extract`.
"""

import gzip
import pathlib
import sys
import time

import trafilatura


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    if (src / "ground-truth.json").exists():
        for page in sorted(src.glob("*.html")):
            pages.append((page.stem, page.read_bytes()))
    for truth in sorted((src / "ground-truth").glob("*.json")):
        page = src / "html" / f"{truth.stem}.html.gz"
        pages.append((truth.stem, gzip.decompress(page.read_bytes())))
    start = time.process_time()
    texts = [(pid, trafilatura.extract(html) or "") for pid, html in pages]
    spent = time.process_time() - start
    for pid, text in texts:
        (out / f"{pid}.txt").write_text(text, encoding="utf-8")
    print(
        f"trafilatura {trafilatura.__version__}: {len(pages)} pages in {spent:.1f} s of CPU, "
        f"{len(pages) / spent:.1f} pages/s"
    )


if __name__ == "__main__":
    main()
