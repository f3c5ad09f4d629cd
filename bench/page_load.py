"""bench/page's browser side: the fleet page's load in headless Chromium, and its limit.

usage: page_load.py URL KEY RUNS
Prints one line per run, "RUN <i> <first_render_ms> <all_loaded_ms> <dcl_ms> <devices> <points>",
then "LIMIT <ms> <twins>": the same pages (per region in parallel, as the page asks for them,
6 at a time) read by a plain HTTP client (http.client, one keep-alive connection per region,
JSON parsed) with no browser: what the API alone takes to hand over the fleet.
Times are from the navigation's start (performance marks the page sets: tp-first-render,
tp-all-loaded; Navigation Timing's domContentLoadedEventEnd)."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def browser() -> webdriver.Chrome:
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
              "--force-device-scale-factor=1"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(120)
    return drv


def page_runs(url: str, key: str, runs: int) -> None:
    drv = browser()
    try:
        drv.get(url + "/ui/")
        drv.execute_script("sessionStorage.setItem('twinpipe.apiKey', arguments[0])", key)
        for i in range(runs):
            drv.get(url + "/ui/")  # a fresh load with the key in the session
            end = time.monotonic() + 180
            while not drv.execute_script("return document.body.dataset.allLoaded"):
                if time.monotonic() > end:
                    raise SystemExit("page_load: the page did not load every twin in 180 s")
                time.sleep(0.05)
            r = drv.execute_script(
                "const m = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[0].startTime : null; };"
                "const nav = performance.getEntriesByType('navigation')[0];"
                "return [m('tp-first-render'), m('tp-all-loaded'), nav.domContentLoadedEventEnd,"
                " tp.state.devices.size, +document.getElementById('map').dataset.points];"
            )
            msg = drv.execute_script("const m = document.getElementById('message'); return m.hidden ? '' : m.textContent")
            if msg:
                raise SystemExit("page_load: the page says: " + msg)
            print("RUN %d %.0f %.0f %.0f %d %d" % (i + 1, r[0], r[1], r[2], r[3], r[4]), flush=True)
    finally:
        drv.quit()


def limit(url: str, key: str) -> None:
    u = urllib.parse.urlsplit(url)
    hdr = {"Authorization": "Bearer " + key}

    def get(conn: http.client.HTTPConnection, path: str) -> dict:
        conn.request("GET", path, headers=hdr)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"page_load: {path} answered {r.status}: {body[:200]!r}")
        return json.loads(body)

    t0 = time.monotonic()
    c = http.client.HTTPConnection(u.hostname, u.port)
    regions = get(c, "/v1/fleet/summary?group_by=region")["groups"]
    keys = [g["key"] for g in regions] if all(g["key"] is not None for g in regions) and len(regions) > 1 else [None]

    def pager(region: str | None) -> int:
        conn = http.client.HTTPConnection(u.hostname, u.port)
        n, cursor, lim = 0, None, 250
        while True:
            q = f"/v1/devices?limit={lim}"
            if region is not None:
                q += "&region=" + urllib.parse.quote(region)
            if cursor:
                q += "&cursor=" + urllib.parse.quote(cursor)
            body = get(conn, q)
            n += len(body["devices"])
            cursor, lim = body["next_cursor"], 1000
            if not cursor:
                return n

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        total = sum(ex.map(pager, keys))
    print("LIMIT %.0f %d" % ((time.monotonic() - t0) * 1000, total), flush=True)


if __name__ == "__main__":
    url, key, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limit(url, key)
    page_runs(url, key, runs)
