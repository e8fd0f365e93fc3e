#!/usr/bin/env python3
"""Makes the status page screenshots in docs/screenshots/.

A local site serves the labelled dedup fixtures (tests/fixtures/dedup) as
pages behind two RSS feeds, plus a feed that answers 404 and one that is not
XML; a release build of tidings runs the daemon on them with the status page
on, and headless Chromium photographs each page once the records are in.

    python3 scripts/screenshots.py        # needs cargo, python3 and chromium

Nothing here reaches the internet: every address is on 127.0.0.1.
"""

import html
import http.server
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "docs" / "screenshots"
PAGES = {
    "overview": "/",
    "feeds": "/feeds",
    "news": "/news",
    "trends": "/trends",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_site(site, base):
    """Two feeds of pages made from the dedup fixtures (headline, then body)."""
    feeds = {"wire.rss": [], "aggregator.rss": []}
    for doc in sorted((FIXTURES / "dedup").glob("*.txt")):
        title, _, body = doc.read_text(encoding="utf-8").partition("\n")
        paragraphs = "".join(
            f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n\n") if p.strip()
        )
        (site / "p").mkdir(exist_ok=True)
        (site / "p" / f"{doc.stem}.html").write_text(
            f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title></head><body><article>"
            f"<h1>{html.escape(title)}</h1>{paragraphs}</article></body></html>",
            encoding="utf-8",
        )
        copy = any(k in doc.stem for k in ("syndicated", "edited", "teaser", "update"))
        feeds["aggregator.rss" if copy else "wire.rss"].append(
            f"<item><title>{html.escape(title)}</title>"
            f"<link>{base}/p/{doc.stem}.html</link><guid>{doc.stem}</guid></item>"
        )
    for name, items in feeds.items():
        (site / name).write_text(
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title>{''.join(items)}</channel></rss>",
            encoding="utf-8",
        )
    shutil.copy(FIXTURES / "feeds" / "malformed.rss", site / "broken.rss")


class Site(http.server.SimpleHTTPRequestHandler):
    """The files of the site; /gone.rss answers 410, so its feed shows dead."""

    def do_GET(self):
        if self.path == "/gone.rss":
            self.send_error(410)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


def serve(site, port):
    handler = lambda *a: Site(*a, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def config(work, base, web):
    feeds = [
        ("Wire service", "wire.rss"),
        ("Aggregator", "aggregator.rss"),
        ("Gone outlet", "gone.rss"),
        ("Broken outlet", "broken.rss"),
    ]
    entries = "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{base}/{path}"\n\n' for name, path in feeds
    )
    text = (
        f'[state]\ndir = "state"\n\n[web]\nlisten = "{web}"\ntoken = "screenshots-only-token"\n\n'
        f'[poll]\ninterval_secs = 60\n\n[http]\nper_host_delay_ms = 0\n\n'
        f'[[sinks]]\nkind = "jsonl"\npath = "records.jsonl"\n\n{entries}'
    )
    path = work / "tidings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def wait_for_records(web, want, deadline):
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{web}/api/stats", timeout=2) as r:
                if json.load(r).get("written", 0) >= want:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"the daemon did not write {want} records in time")


def shoot(web, name, path, work):
    profile = work / f"chromium-{name}"
    subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--window-size=1280,900", f"--screenshot={OUT / (name + '.png')}",
            f"http://{web}{path}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        site = work / "site"
        site.mkdir()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        build_site(site, base)
        server = serve(site, port)
        web = f"127.0.0.1:{free_port()}"
        cfg = config(work, base, web)
        pages = len(list((FIXTURES / "dedup").glob("*.txt")))
        daemon = subprocess.Popen(
            [str(ROOT / "target" / "release" / "tidings"), "run", "--config", str(cfg)],
            stderr=subprocess.DEVNULL,
        )
        try:
            # Exact copies are dropped, near ones written and flagged.
            wait_for_records(web, pages // 2, time.time() + 120)
            time.sleep(2)
            for name, path in PAGES.items():
                shoot(web, name, path, work)
                print(f"docs/screenshots/{name}.png")
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            server.shutdown()


if __name__ == "__main__":
    main()
