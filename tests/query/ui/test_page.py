"""The fleet page (query/ui/) in headless Chromium against the real services.

tp-ingest, tp-projector and tp-query (its search index refreshed every 100 ms,
the projector flushing every 50 ms) run on a database and topic of their own,
started as clients/python/tests/conftest.py starts them; tp-loadgen posts a
simulated fleet of 120 vehicles; the page is driven by Selenium. Checks:
a wrong key shows the 401 message; the page counts as many devices as
GET /v1/fleet/summary and the map paints every one of them (the pixel at each
device's place); a click on a device shows exactly the values of
GET /v1/devices/{id}; a reading posted meanwhile reaches the panel, the map and
the count within 2 s (the change stream); the search shows the list's answer;
an unknown device shows the 404 message, a stopped server the unreachable one.
Screenshots: TP_UI_SCREENSHOTS (page.sh: the build's ui-screenshots/)."""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python" / "tests"))
import conftest as stackfix  # noqa: E402  (clients/python's: Stack, Services, batch_text)

KEY = stackfix.QUERY_KEY
DEVICES = 120
SHOTS = pathlib.Path(os.environ.get("TP_UI_SCREENSHOTS", "/tmp/tp-ui-screenshots"))


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = fn()
        except Exception as e:  # the page may be between states
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def svc() -> Iterator[stackfix.Services]:
    with stackfix.running_services("page") as s:
        yield s


def api(svc: stackfix.Services, path: str) -> Any:
    r = httpx.get(svc.query + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def all_twins(svc: stackfix.Services) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    cursor = None
    while True:
        body = api(svc, "/v1/devices?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        for t in body["devices"]:
            out[t["device_id"]] = t
        cursor = body["next_cursor"]
        if not cursor:
            return out


def fleet_count(svc: stackfix.Services) -> int:
    return sum(g["devices"] for g in api(svc, "/v1/fleet/summary")["groups"])


@pytest.fixture(scope="module")
def fleet(svc: stackfix.Services) -> Dict[str, dict]:
    """tp-loadgen's vehicles, 3 readings each, all applied and in the search index."""
    rc = svc.stack.run(
        "tp-loadgen",
        {
            "TP_LOADGEN_URL": svc.ingest + "/v1/telemetry",
            "TP_LOADGEN_DEVICES": str(DEVICES),
            "TP_LOADGEN_READINGS": str(DEVICES * 3),
            "TP_LOADGEN_BATCH": "60",
            "TP_LOADGEN_CONNECTIONS": "2",
            "TP_LOADGEN_VERIFY_URL": svc.query,
            "TP_LOADGEN_QUERY_TOKEN": KEY,
            "TP_LOADGEN_VERIFY_TIMEOUT_S": "60",
        },
    )
    assert rc == 0, "tp-loadgen failed (its log is beside the services')"
    wait_for("the fleet in the search index", lambda: fleet_count(svc) == DEVICES)
    twins = all_twins(svc)
    assert len(twins) == DEVICES
    return twins


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1050",
              "--force-device-scale-factor=1"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_script_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield drv
    finally:
        drv.quit()


def text(drv: webdriver.Chrome, css: str) -> str:
    return str(drv.find_element(By.CSS_SELECTOR, css).text)


def message(drv: webdriver.Chrome) -> Dict[str, str]:
    return drv.execute_script(
        "const m = document.getElementById('message');"
        "return {hidden: m.hidden, kind: m.dataset.kind || '', text: m.textContent};"
    )


def enter_key(drv: webdriver.Chrome, key: str) -> None:
    wait_for("the key dialog", lambda: drv.execute_script("return document.getElementById('keydlg').open"))
    box = drv.find_element(By.ID, "key")
    box.clear()
    box.send_keys(key)
    drv.find_element(By.ID, "keyok").click()


def test_served(svc: stackfix.Services) -> None:
    """The page's files: open, this origin only, / and /ui redirect, unknown files 404."""
    for path in ("/", "/ui"):
        r = httpx.get(svc.query + path, timeout=10)
        assert (r.status_code, r.headers["Location"]) == (302, "/ui/")
    r = httpx.get(svc.query + "/ui/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self';")
    assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.text == (ROOT / "query" / "ui" / "index.html").read_text()
    r = httpx.get(svc.query + "/ui/vendor/countries-110m.json", timeout=10)
    assert (r.status_code, r.headers["Content-Type"]) == (200, "application/json")
    assert r.content == (ROOT / "query" / "ui" / "vendor" / "countries-110m.json").read_bytes()
    r = httpx.get(svc.query + "/ui/nope.js", timeout=10)
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no such file of the page"}}


def test_wrong_key_shows_401(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    browser.get(svc.query + "/")  # redirects to /ui/
    assert browser.current_url == svc.query + "/ui/"
    enter_key(browser, "not-the-key")
    m = wait_for("the 401 message", lambda: (lambda m: m if m["kind"] == "unauthorized" else None)(message(browser)))
    assert m["hidden"] is False
    assert m["text"].startswith("401 unauthorized: the API key was refused ("), m
    assert browser.execute_script("return document.getElementById('keydlg').open") is True
    assert text(browser, "#keymsg") == m["text"]
    assert browser.execute_script("return document.getElementById('map').dataset.points") == "0"
    browser.save_screenshot(str(SHOTS / "page-401.png"))


def test_fleet_on_map(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    enter_key(browser, KEY)
    wait_for("every page read", lambda: browser.execute_script("return document.body.dataset.allLoaded"))
    wait_for("the stream", lambda: text(browser, "#live") == "live")
    assert message(browser)["hidden"] is True
    summary = fleet_count(svc)
    assert summary == DEVICES
    assert text(browser, "#count-fleet") == str(summary)
    assert text(browser, "#count-loaded") == str(summary)
    ids = browser.execute_script("return Array.from(tp.state.devices.keys()).sort()")
    assert ids == sorted(fleet)
    # every twin has a location: the map draws them all, each in view, its pixel painted
    assert all(t["location"] is not None for t in fleet.values())
    wait_for("the map drawn", lambda: browser.execute_script("return document.getElementById('map').dataset.points") == str(summary))
    assert browser.execute_script("return document.getElementById('map').dataset.visible") == str(summary)
    painted = browser.execute_script(
        "const c = document.getElementById('map'), g = c.getContext('2d'); let n = 0;"
        "for (const id of tp.state.devices.keys()) { const p = tp.screenPos(id);"
        " if (p && g.getImageData(Math.round(p.x), Math.round(p.y), 1, 1).data[3] === 255) n++; }"
        "return n;"
    )
    assert painted == summary
    # the summary tables: one row per region, the devices as the API counts them
    by_region = api(svc, "/v1/fleet/summary?group_by=region")["groups"]
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#summary-region tr[data-key]'))"
        ".map(r => [r.dataset.key, r.cells[1].textContent, r.cells[2].textContent])"
    )
    assert rows == [[g["key"], str(g["devices"]), str(g["online"])] for g in by_region]
    browser.save_screenshot(str(SHOTS / "page-fleet.png"))


def isolated_device(browser: webdriver.Chrome) -> str:
    """A device at least 12 px from any other on the map (a click takes the nearest)."""
    pos: Dict[str, Dict[str, float]] = browser.execute_script(
        "const o = {}; for (const id of tp.state.devices.keys()) o[id] = tp.screenPos(id); return o;"
    )
    for i in sorted(pos):
        p = pos[i]
        if all((p["x"] - q["x"]) ** 2 + (p["y"] - q["y"]) ** 2 >= 144 for j, q in pos.items() if j != i):
            return i
    raise AssertionError("no device stands alone on the map")


def click_device(browser: webdriver.Chrome, dev: str) -> None:
    p = browser.execute_script("return tp.screenPos(arguments[0])", dev)
    m = browser.find_element(By.ID, "map")
    size = m.size
    ActionChains(browser).move_to_element_with_offset(
        m, int(round(p["x"] - size["width"] / 2)), int(round(p["y"] - size["height"] / 2))
    ).click().perform()
    wait_for("the panel of " + dev, lambda: browser.execute_script("return document.getElementById('panel').dataset.id") == dev)


def shown(browser: webdriver.Chrome, key: str) -> str:
    return str(browser.execute_script(
        "const e = document.querySelector('#panel td[data-k=\"' + arguments[0] + '\"]');"
        "return e ? e.textContent : null;", key))


def same(text_: str, v: Any) -> bool:
    """The page's text of an API value: null as '—', numbers parsing back to the same double."""
    if v is None:
        return text_ == "—"
    if isinstance(v, bool):
        return text_ == ("true" if v else "false")
    if isinstance(v, (int, float)):
        return float(text_) == float(v)
    return text_ == v


def check_panel(svc: stackfix.Services, browser: webdriver.Chrome, dev: str) -> dict:
    r = httpx.get(svc.query + "/v1/devices/" + dev, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 200
    t = r.json()
    assert browser.execute_script("return document.getElementById('panel-version').dataset.version") == r.headers["ETag"].strip('"')[1:]
    for k in ("first_seen", "last_seen", "last_sequence", "events", "updated_at"):
        assert same(shown(browser, k), t[k]), (k, shown(browser, k), t[k])
    for k, v in t["location"].items():
        assert same(shown(browser, "location." + k), v), (k, v)
    for k, v in t["attributes"].items():
        assert same(shown(browser, "attributes." + k), v), (k, v)
    names = browser.execute_script("return Array.from(document.querySelectorAll('#panel-metrics tbody tr')).map(r => r.dataset.metric)")
    assert names == list(t["metrics"])
    for name, m in t["metrics"].items():
        for k in ("value", "min", "max", "sum", "count"):
            assert same(shown(browser, f"{name}.{k}"), m[k]), (name, k, shown(browser, f"{name}.{k}"), m[k])
        # the device time: its UTC time of day to the millisecond, the whole value in the cell's data
        ts = browser.execute_script(
            "const e = document.querySelector('#panel td[data-k=\"' + arguments[0] + '\"]');"
            "return [e.textContent, e.dataset.v];", f"{name}.ts")
        ms = m["ts"]
        assert ts == [time.strftime("%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000), str(ms)], (name, ts, ms)
    return t


def test_click_shows_api_values(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    dev = isolated_device(browser)
    click_device(browser, dev)
    wait_for("the chart", lambda: browser.execute_script("return document.getElementById('chart').dataset.buckets"))
    check_panel(svc, browser, dev)
    # the chart: the buckets of the series the page asked for, the last one's average
    metric = browser.execute_script("return document.getElementById('chart-metric').value")
    assert metric in fleet[dev]["metrics"]
    now = time.time()
    frm = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(now - 3600))
    to = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(now + 120))
    series = api(svc, f"/v1/devices/{dev}/series?metric={metric}&step=1m&from={frm}&to={to}")
    assert browser.execute_script("return document.getElementById('chart').dataset.buckets") == str(len(series["buckets"]))
    assert float(browser.execute_script("return document.getElementById('chart').dataset.lastAvg")) == series["buckets"][-1]["avg"]
    browser.save_screenshot(str(SHOTS / "page-device.png"))


def test_posted_reading_within_2s(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    dev = browser.execute_script("return tp.state.selected")
    assert dev
    t = api(svc, "/v1/devices/" + dev)
    loc = t["location"]
    new_lat, new_lon = round(loc["lat"] + 0.25, 6), round(loc["lon"] - 0.25, 6)
    reading = {"device_id": dev, "sequence": t["last_sequence"] + 1, "ts": int(time.time() * 1000),
               "speed_kmh": 123.375, "region": t["attributes"]["region"], "model": t["attributes"]["model"],
               "lat": new_lat, "lon": new_lon, "co2_ppm": 777}
    fresh = {"device_id": "page-new-1", "sequence": 1, "ts": int(time.time() * 1000), "speed_kmh": 42.5,
             "region": "eu-north", "model": "tp-van", "lat": 50.5, "lon": 12.5, "co2_ppm": 400}
    before = int(text(browser, "#count-loaded"))
    text_ = stackfix.batch_text([reading, fresh]).replace('firmware: "1.0.0"', f'firmware: "{t["attributes"]["firmware"]}"')
    t0 = time.monotonic()
    svc.post(text_)
    wait_for("the new speed in the panel", lambda: shown(browser, "speed_kmh.value") == "123.375", timeout=2.0, every=0.02)
    wait_for("the moved device on the map", lambda: browser.execute_script(
        "const d = tp.state.devices.get(arguments[0]); return d.lat === arguments[1] && d.lon === arguments[2];",
        dev, new_lat, new_lon), timeout=max(0.05, 2.0 - (time.monotonic() - t0)), every=0.02)
    wait_for("the new device counted and drawn", lambda: text(browser, "#count-loaded") == str(before + 1) and
             browser.execute_script("return document.getElementById('map').dataset.points") == str(before + 1),
             timeout=max(0.05, 2.0 - (time.monotonic() - t0)), every=0.02)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, elapsed
    # and the panel equals the API again, every field (the twin moved on)
    wait_for("the panel's events", lambda: shown(browser, "events") == str(t["events"] + 1))
    check_panel(svc, browser, dev)
    browser.save_screenshot(str(SHOTS / "page-live.png"))


def test_search(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    q = browser.find_element(By.ID, "q")
    q.clear()
    q.send_keys("region=eu-north speed_kmh>=20")
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    want = api(svc, "/v1/devices?region=eu-north&metric.speed_kmh.ge=20&limit=100")
    ids = [t["device_id"] for t in want["devices"]]
    got = wait_for("the results", lambda: browser.execute_script(
        "return Array.from(document.querySelectorAll('#results-list li')).map(l => l.dataset.id)") or None)
    assert got == ids
    assert len(ids) > 0 and want["next_cursor"] is None
    wait_for("the map filtered", lambda: browser.execute_script(
        "return document.getElementById('map').dataset.points") == str(len(ids)))
    q.clear()
    q.send_keys("speed_kmh=3")
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    m = wait_for("the parse error", lambda: (lambda m: m if m["kind"] == "error" else None)(message(browser)))
    assert m["text"] == "search: metric speed_kmh: use <, <=, > or >="


def test_unknown_device_shows_404(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    q = browser.find_element(By.ID, "q")
    q.clear()
    q.send_keys("no-such-device")
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    m = wait_for("the 404 message", lambda: (lambda m: m if m["kind"] == "notfound" else None)(message(browser)))
    assert m["text"] == '404 device_not_found: no twin for device "no-such-device"', m
    assert browser.execute_script("return document.getElementById('panel').hidden") is True


def test_unreachable_server(svc: stackfix.Services, fleet: Dict[str, dict], browser: webdriver.Chrome) -> None:
    """A second tp-query serves the page, then stops: the page says the server is unreachable."""
    url = svc.stack.start("tp-query", {
        "TP_QUERY_API_KEYS": hashlib.sha256(KEY.encode()).hexdigest(),
        "TP_QUERY_PROJECTOR_GROUP": svc.stack.topic, "TP_QUERY_TOPIC": svc.stack.topic})
    program, proc = svc.stack.procs[-1]
    assert program == "tp-query"
    browser.get(url + "/ui/")
    enter_key(browser, KEY)
    wait_for("every page read", lambda: browser.execute_script("return document.body.dataset.allLoaded"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    svc.stack.procs.pop()
    m = wait_for("the unreachable message", lambda: (lambda m: m if m["kind"] == "unreachable" else None)(message(browser)), timeout=15)
    assert m["text"] == f"The server is unreachable ({url}): is tp-query running? Retrying…"
    browser.save_screenshot(str(SHOTS / "page-unreachable.png"))
