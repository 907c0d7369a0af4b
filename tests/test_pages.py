"""Browser tests of the pages (Playwright driving Debian's Chromium) against ``proximity demo``:
live alert with its customer card within 2 s of an entry, a claim seen on a second associate's
feed, live occupancy on the map, a zone edit that the engine's next events follow, and the feed
reconnecting by itself after network drops with the alerts raised meanwhile.
Screenshots go to ``docs/img/`` (tablet sizes) when ``PROX_SCREENSHOTS=1``."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.demo_run import DemoRun
from tests.mqtt_broker import require_mosquitto
from tests.tcp_proxy import Proxy, Request

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
SHOTS = os.environ.get("PROX_SCREENSHOTS") == "1"


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    require_mosquitto()
    _require_chromium()
    run = DemoRun(tmp_path_factory.mktemp("demo"), speed=2.0)
    try:
        run.wait_for(r"^ready", 90)
        run.wait_for(r"^first alert", 60)
        yield run
    finally:
        run.interrupt()


@pytest.fixture(scope="module")
def browser(demo: DemoRun) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _db(demo: DemoRun) -> sqlite3.Connection:
    return sqlite3.connect(demo.workdir / "api.db", timeout=30)


def _broker(demo: DemoRun) -> int:
    return int(demo.wait_for(r"mosquitto listening on 127\.0\.0\.1:(\d+)", 1).group(1))


def _publish(port: int, topic: str, payload: dict[str, Any]) -> None:
    import aiomqtt

    async def go() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"test-{time.time_ns()}") as c:
            await c.publish(topic, json.dumps(payload).encode(), qos=1)

    worker = threading.Thread(target=asyncio.run, args=(go(),))  # Playwright owns this loop
    worker.start()
    worker.join(10)


def test_feed_shows_alert_card_within_2s_and_claim_reaches_second_feed(
    demo: DemoRun, browser: Any
) -> None:
    anna = browser.new_page(viewport={"width": 1024, "height": 768})
    ben = browser.new_page(viewport={"width": 768, "height": 1024})
    anna.goto(demo.url("associate feed (Anna)"))
    ben.goto(demo.url("associate feed (Ben)"))
    for page in (anna, ben):
        page.wait_for_selector("#conn[data-state=live]", timeout=10_000)
    with _db(demo) as db:
        subject = db.execute("select subject from customer where name='Lena Fischer'").fetchone()[0]
        now = db.execute("select max(ts) from rawevent").fetchone()[0]
    # a simulated entry of a gold customer, as the store engine publishes it
    _publish(_broker(demo), "prox/v1/default/events", {
        "type": "store_entry", "device": subject, "zone": None, "ts": now,
        "event_id": f"test-entry-{time.time_ns()}", "visit_id": f"test-visit-{time.time_ns()}",
    })  # fmt: skip
    sent = time.monotonic()
    card = anna.locator(".card", has_text="Lena Fischer")
    card.locator(".avatar", has_text="LF").wait_for(timeout=2000)
    latency = time.monotonic() - sent
    print(f"entry -> customer card on the feed: {latency * 1000:.0f} ms")
    assert latency < 2.0
    assert card.locator(".tier").inner_text().lower() == "gold"
    assert "Ankle boots" in card.inner_text() or "ankle boots" in card.inner_text()
    if SHOTS:
        anna.wait_for_timeout(600)
        anna.screenshot(path=str(IMG / "feed-1024x768.png"))
    ben_card = ben.locator(".card", has_text="Lena Fischer")
    ben_card.wait_for(timeout=2000)
    card.locator("button.claim").click()
    ben_card.locator(".status", has_text="Claimed by Anna").wait_for(timeout=3000)
    assert ben_card.locator("button.claim").count() == 0
    card.locator("button.resolve").wait_for(timeout=2000)
    if SHOTS:
        ben.wait_for_timeout(600)
        ben.screenshot(path=str(IMG / "feed-768x1024.png"))
    anna.close()
    ben.close()


def test_map_shows_live_occupancy(demo: DemoRun, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto(demo.url("ops console"))
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.wait_for_function("Number(document.getElementById('in-store').textContent) > 0",
                           timeout=20_000)  # fmt: skip
    counts = {
        node.get_attribute("data-count"): int(node.text_content() or "0")
        for node in page.locator("[data-count]").all()
    }
    assert sum(counts.values()) > 0, counts
    assert "fitting" not in counts  # private zones never report
    assert page.locator("circle.gw[data-health=online]").count() >= 1
    if SHOTS:
        _shot(page, "ops-map")
        page.set_viewport_size({"width": 768, "height": 1024})
        page.wait_for_timeout(500)
        _shot(page, "ops-map")
        page.set_viewport_size({"width": 1024, "height": 768})
        for tab in ("rules", "gateways"):
            page.click(f"button[data-tab={tab}]")
            page.wait_for_timeout(800)
            _shot(page, f"ops-{tab}")
    page.close()


def _shot(page: Any, name: str) -> None:
    """``docs/img/<name>-<width>x<height>.png``: the name always tells the real size."""
    size = page.viewport_size
    page.screenshot(path=str(IMG / f"{name}-{size['width']}x{size['height']}.png"))


# Every text of a chart as a quadrilateral on the screen (slanted labels are rotated), checked
# against every other text and every bar (separating axes, 0.5 px tolerance) and the chart's
# edges; also the size text is drawn at.
CHART_CLASHES = """(id) => {
  const svg = document.getElementById(id);
  const quad = (node) => {
    const b = node.getBBox(), m = node.getScreenCTM();
    const corners = [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
                     [b.x, b.y + b.height]];
    return corners.map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const apart = (p, q) => [p, q].some((poly) => poly.some((a, i) => {
    const b = poly[(i + 1) % poly.length], n = [b[1] - a[1], a[0] - b[0]];
    const proj = (r) => r.map((v) => v[0] * n[0] + v[1] * n[1]);
    const [pp, qq] = [proj(p), proj(q)];
    const depth = Math.min(Math.max(...pp), Math.max(...qq))
      - Math.max(Math.min(...pp), Math.min(...qq));
    return depth < 0.5 * (Math.hypot(n[0], n[1]) || 1);
  }));
  const name = (n) => n.firstChild.nodeValue;
  const texts = [...svg.querySelectorAll("text")].map((n) => ({ name: name(n), q: quad(n), n }));
  const rects = [...svg.querySelectorAll("rect")].map((n) => ({ name: "bar", q: quad(n) }));
  const box = svg.getBoundingClientRect();
  const out = [];
  texts.forEach((t, i) => {
    for (const u of [...texts.slice(i + 1), ...rects]) {
      if (!apart(t.q, u.q)) out.push(t.name + " / " + u.name);
    }
    const outside = ([x, y]) => x < box.left - 1 || x > box.right + 1 || y < box.top - 1
      || y > box.bottom + 1;
    if (t.q.some(outside)) out.push(t.name + " / edge");
    const m = t.n.getScreenCTM();
    const px = parseFloat(getComputedStyle(t.n).fontSize) * Math.hypot(m.a, m.b);
    if (px < 10) out.push(t.name + " / drawn at " + px.toFixed(1) + " px");
  });
  return { clashes: out, labels: svg.querySelectorAll("text.cat").length, bars: rects.length };
}"""
CHARTS = ("c-footfall", "c-dwell", "c-response", "c-coupons")
ZONES = ("fitting rooms", "accessories", "womenswear", "menswear", "shoes", "checkout",
         "entrance", "pickup counter", "street", "kids", "outlet corner", "lingerie")  # fmt: skip


def _check_charts(page: Any, what: str) -> dict[str, dict[str, Any]]:
    found = {chart: page.evaluate(CHART_CLASHES, chart) for chart in CHARTS}
    clashes = {chart: r["clashes"] for chart, r in found.items() if r["clashes"]}
    assert not clashes, f"{what}: {clashes}"
    return found


def test_analytics_labels_clear_at_tablet_sizes(demo: DemoRun, browser: Any) -> None:
    """No chart text overlaps another text, a bar or the chart's edge, and none is drawn
    smaller than 10 px, in both tablet orientations: with the demo's figures and with a busy
    store's (24 hours, 12 zones with long names, large numbers)."""
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto(demo.url("ops console") + "#analytics")
    page.wait_for_selector("body[data-analytics]", timeout=10_000)
    real = page.evaluate(
        "fetch('/stores/default/analytics', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('prox-token')}}).then((r) => r.json())"
    )
    busy = {
        **real,
        "footfall_by_hour": {f"{h:02d}": 40 + (h * 37) % 260 for h in range(24)},
        "dwell": [
            {
                "zone": z,
                "visits": 50,
                "median_s": 3.5 + 41 * i,
                "p90_s": 9.0 + 97 * i,
                "histogram": {},
            }
            for i, z in enumerate(ZONES)
        ],
        "alerts": 412,
        "alerts_claimed": 398,
        "alert_response_median_s": 12.5,
        "alert_response_p90_s": 148.0,
        "coupons_issued": 12840,
        "coupons_redeemed": 3391,
        "coupon_conversion": 0.264,
    }
    for size in ({"width": 1024, "height": 768}, {"width": 768, "height": 1024}):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # charts redraw at their new width
        found = _check_charts(page, f"demo figures at {size}")
        assert found["c-dwell"]["bars"] >= 2
        if SHOTS:
            _shot(page, "ops-analytics")
    page.route("**/stores/default/analytics*", lambda route: route.fulfill(json=busy))
    for size in ({"width": 768, "height": 1024}, {"width": 1024, "height": 768}):
        page.set_viewport_size(size)
        page.click("button[data-tab=map]")
        page.click("button[data-tab=analytics]")
        page.wait_for_function("document.getElementById('n-coupons').textContent === '26 %'")
        found = _check_charts(page, f"busy store at {size}")
        assert found["c-footfall"]["bars"] == 24 and found["c-dwell"]["bars"] == 24
        # thinned or slanted, the axes still name many of their categories
        assert found["c-footfall"]["labels"] >= 6 and found["c-dwell"]["labels"] >= 6, found
    page.close()


def test_zone_edit_reaches_the_engine(demo: DemoRun, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto(demo.url("ops console") + "#zones")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.select_option("#zone-pick", label="shoes")
    page.select_option("#zone-kind", "private")
    if SHOTS:
        page.screenshot(path=str(IMG / "ops-zones-1024x768.png"))
    page.click("#zone-save")
    page.wait_for_selector("body[data-saved='published']", timeout=10_000)
    with _db(demo) as db:
        saved_at = db.execute("select max(received_at) from rawevent").fetchone()[0]
    time.sleep(12)  # some more events of the running store
    with _db(demo) as db:
        rows = db.execute(
            "select type, zone from rawevent where received_at > ? + 2", (saved_at,)
        ).fetchall()
    zones = [zone for _, zone in rows if zone]
    assert zones, "no zone events after the edit"
    # nobody enters a private zone any more (devices already inside keep their place: the
    # engine's set_store does not evict them, see docs/ui.md)
    assert not [t for t, z in rows if z == "shoes" and t == "zone_enter"], rows
    layout = page.evaluate(
        "fetch('/stores/default/layout', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('prox-token')}}).then((r) => r.json())"
    )
    assert next(z for z in layout["zones"] if z["id"] == "shoes")["kind"] == "private"
    page.close()


def _raise_alert(demo: DemoRun, customer: str) -> int:
    """A gold customer's new entry on the events topic; the id of the alert the API raised."""
    with _db(demo) as db:
        cid, subject = db.execute(
            "select id, subject from customer where name=?", (customer,)
        ).fetchone()
        before = db.execute("select coalesce(max(id), 0) from alert").fetchone()[0]
        now = db.execute("select max(ts) from rawevent").fetchone()[0]
    tag = time.time_ns()
    _publish(_broker(demo), "prox/v1/default/events", {
        "type": "store_entry", "device": subject, "zone": None, "ts": now,
        "event_id": f"test-entry-{tag}", "visit_id": f"test-visit-{tag}",
    })  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with _db(demo) as db:
            row = db.execute(
                "select id from alert where id > ? and customer_id = ?", (before, cid)
            ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.2)
    raise AssertionError(f"no alert for {customer}'s entry")


def _query(request: Request, name: str) -> str:
    return parse_qs(urlsplit(request.target).query).get(name, [""])[0]


def _until(page: Any, condition: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(200)


def test_feed_reconnects_after_network_drops_and_shows_missed_alerts(
    demo: DemoRun, browser: Any
) -> None:
    """Three drops, each with an alert raised while the feed is cut off: the device goes
    offline; the stream is cut and reconnects fail (the browser retries with Last-Event-ID);
    the stream is cut and the API's proxy answers 503 (EventSource gives up, the page retries
    with backoff and ``?last_event_id=``). Each time the page shows that it is disconnected,
    and once the network is back the missed alert's card appears without a reload."""
    feed_url = urlsplit(demo.url("associate feed (Anna)"))
    proxy = Proxy(int(feed_url.port or 80))
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_init_script("localStorage.setItem('prox-sound', 'on')")
    page = context.new_page()
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    try:
        page.goto(feed_url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl())
        page.wait_for_selector("#conn[data-state=live]", timeout=10_000)
        page.evaluate("window.__sameDocument = true")
        banner = page.locator("#offline")
        assert banner.is_hidden()
        figures: dict[str, float] = {}

        def back_and_wait(name: str, alert: int, restore: Any) -> float:
            card = page.locator(f".card[data-alert='{alert}']")
            page.wait_for_timeout(1500)  # the alert would be on the page by now if connected
            assert card.count() == 0, f"{name}: alert {alert} arrived while disconnected"
            beeps = page.evaluate("window.__beeps || 0")
            back = time.monotonic()  # the page may reconnect before restore() returns
            restore()
            card.wait_for(timeout=30_000)
            figures[name] = time.monotonic() - back
            page.wait_for_selector("#conn[data-state=live]", timeout=10_000)
            assert banner.is_hidden()
            assert page.evaluate("window.__beeps || 0") > beeps, f"{name}: no chime"
            # replayed on the stream (not merely found in the live list the page re-reads)
            assert page.evaluate(f"window.__feed.via.get({alert})") == "stream", name
            return back

        def resumed_from(since: float) -> Request:
            after = [r for r in proxy.feed_requests() if r.at >= since and r.outcome != "503"]
            assert after, "no feed request after the network came back"
            return after[0]

        # 1. the device goes offline (the browser says so; an open stream would just hang)
        context.set_offline(True)
        page.wait_for_selector("#conn[data-state=down]", timeout=5_000)
        assert "offline" in page.locator("#conn").inner_text()
        assert banner.is_visible()
        maria = _raise_alert(demo, "Maria Gonzalez")
        back = back_and_wait("offline", maria, lambda: context.set_offline(False))
        # a new EventSource: the page passes the id the stream last told it
        assert _query(resumed_from(back), "last_event_id").count("-") == 1

        # 2. the stream is cut and reconnecting fails for a while
        proxy.set_mode("down")
        page.wait_for_selector("#conn[data-state=connecting]", timeout=10_000)
        assert "reconnecting" in page.locator("#conn").inner_text()
        assert banner.is_visible()
        if SHOTS:
            page.screenshot(path=str(IMG / "feed-reconnecting-1024x768.png"))
        lena = _raise_alert(demo, "Lena Fischer")
        fails = proxy.refused
        _until(page, lambda: proxy.refused >= fails + 2, "the browser retrying by itself")
        back = back_and_wait("dropped", lena, lambda: proxy.set_mode("up"))
        # the browser's own reconnect sends Last-Event-ID
        assert resumed_from(back).headers.get("last-event-id", "").count("-") == 1

        # 3. the stream is cut and the proxy answers 503: EventSource gives up, the page retries
        proxy.set_mode("503")
        page.wait_for_selector("#conn[data-state=down]", timeout=10_000)
        assert "retrying in" in page.locator("#conn").inner_text()
        assert banner.is_visible()
        maria2 = _raise_alert(demo, "Maria Gonzalez")
        _until(page, lambda: sum(r.outcome == "503" for r in proxy.feed_requests()) >= 2,
               "the page retrying after the browser gave up")  # fmt: skip
        back = back_and_wait("503", maria2, lambda: proxy.set_mode("up"))
        assert _query(resumed_from(back), "last_event_id").count("-") == 1
        gone = [r.at for r in proxy.feed_requests() if r.outcome == "503"]
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(gone)]

        assert page.evaluate("window.__sameDocument") is True  # no reload
        assert len(loads) == 1, loads
        for alert in (maria, lena, maria2):
            assert page.locator(f"[data-alert='{alert}']").count() >= 1
        print("network back -> missed alert's card: "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in figures.items())
              + f"; retries after 503 s apart: {gaps}")  # fmt: skip
    finally:
        context.close()
        proxy.close()
