"""The web console end to end, in headless Chromium (Debian's package) driven by Playwright, against the whole
system as processes on real Kafka and PostgreSQL: a support person signs in, finds a held order by the channel's
order id and by the customer, reads its timeline with every event's cause, looks at its SKU's stock by location,
releases it from the held orders with a reason, and sees it move on with their name on the release. A wrong
password is refused; a page opened without signing in goes to the sign-in page.

Every step leaves a screenshot in the test's run directory, and each is checked: a PNG of the viewport's size
that is not blank (many colours, light and dark), and the order's status badge sampled for its colour (held:
amber; released and on its way: green). PNGs are decoded here with zlib and struct: no imaging library."""

from __future__ import annotations

import colorsys
import shutil
import struct
import time
import zlib
from collections import Counter
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from oms_cli.stack import DEMO_CONSOLE_PASSWORD, DEMO_CONSOLE_USER

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"
RISKY_PIN = "110099"  # a risky pin of the demo order rules: the order is held for a person
VIEWPORT = {"width": 1280, "height": 800}


# ---- the browser ----
@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium: installed with apt when the machine has none (a browser Playwright downloads is not
    used, nor needed)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        from devstack.debian import apt_install

        apt_install(["chromium"])
        found = shutil.which("chromium")
    assert found, "chromium is not installed and could not be installed with apt-get"
    return found


@pytest.fixture(scope="module")
def browser(chromium):
    # (module scope: while Playwright's sync API is open its event loop counts as running in this thread, so
    # the tests after these, which call asyncio.run, must not see it)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def shots(system, request) -> Path:
    folder = system.stack.profile.run_dir / "console-screenshots" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# ---- PNG, read with the standard library ----
def _add_bytes(a: int, b: int, low: int, high: int) -> int:
    """Byte by byte (a + b) mod 256 of two rows packed into integers: no carry from one byte into the next."""
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _unfilter(kind: int, line: bytes, previous: bytes, channels: int) -> bytes:
    """One scanline without its PNG filter (RFC 2083 6.3). Sub and Up, most of a screenshot's rows, are done
    on whole rows as integers; Average and Paeth byte by byte."""
    if kind == 0:
        return line
    size = len(line)
    if kind in (1, 2):
        low, high = int.from_bytes(b"\x7f" * size, "big"), int.from_bytes(b"\x80" * size, "big")
        value = int.from_bytes(line, "big")
        if kind == 2:
            value = _add_bytes(value, int.from_bytes(previous, "big"), low, high)
        else:  # each byte plus the one a pixel to its left, running: a prefix sum in doubling strides
            shift = 8 * channels
            while shift < 8 * size:
                value = _add_bytes(value, value >> shift, low, high)
                shift *= 2
        return value.to_bytes(size, "big")
    out = bytearray(line)
    for i in range(size):
        left = out[i - channels] if i >= channels else 0
        up = previous[i]
        if kind == 3:
            out[i] = (out[i] + (left + up) // 2) & 0xFF
        else:
            up_left = previous[i - channels] if i >= channels else 0
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
    return bytes(out)


def png_rows(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, channels and unfiltered rows of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium
    writes), every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, header = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunk = data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, f"corrupt {kind!r} chunk"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        at += 12 + length
    assert header is not None, "no IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    assert len(raw) == height * (stride + 1), "image data does not match the header"
    rows, previous = [], bytes(stride)
    for row in range(height):
        start = row * (stride + 1)
        previous = _unfilter(raw[start], raw[start + 1:start + 1 + stride], previous, channels)
        rows.append(previous)
    return width, height, channels, rows


def png_pixels(data: bytes, row_step: int = 1, pixel_step: int = 1
               ) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and (a sample of) the RGB pixels."""
    width, height, channels, rows = png_rows(data)
    pixels = [tuple(row[i:i + 3]) for row in rows[::row_step]
              for i in range(0, width * channels, channels * pixel_step)]
    return width, height, pixels


def check_screenshot(path: Path) -> None:
    """A PNG of the viewport's size with something on it: many distinct colours, and light and dark pixels."""
    width, height, sample = png_pixels(path.read_bytes(), row_step=3, pixel_step=5)
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"]), f"{path.name}: {width}x{height}"
    assert len(set(sample)) >= 64, f"{path.name}: only {len(set(sample))} colours, blank?"
    luminance = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in sample]
    mean = sum(luminance) / len(luminance)
    deviation = (sum((v - mean) ** 2 for v in luminance) / len(luminance)) ** 0.5
    assert deviation > 12, f"{path.name}: luminance deviation {deviation:.1f}, blank?"


def badge_colour(png: bytes) -> str:
    """The colour name of a status badge's screenshot: the hue of its commonest colour (its fill)."""
    _, _, pixels = png_pixels(png)
    (r, g, b), _ = Counter(pixels).most_common(1)[0]
    if max(r, g, b) - min(r, g, b) < 25:  # hardly any colour at all
        return "grey"
    degrees = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)[0] * 360
    for name, low, high in (("red", 345, 360), ("red", 0, 15), ("amber", 30, 60), ("green", 90, 165),
                            ("blue", 195, 250)):
        if low <= degrees <= high:
            return name
    return f"hue {degrees:.0f}"


def snap(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{len(list(folder.glob('[0-9]*.png'))) + 1:02d}-{name}.png"
    page.screenshot(path=str(path))
    check_screenshot(path)
    return path


def badge_of(page: Page, folder: Path, name: str) -> str:
    badge = page.locator('[data-testid="order-status"] .badge')
    path = folder / f"badge-{name}.png"
    badge.screenshot(path=str(path))
    return badge_colour(path.read_bytes())


# ---- the story ----
def sign_in(page: Page, password: str) -> None:
    page.fill('input[name="username"]', DEMO_CONSOLE_USER)
    page.fill('input[name="password"]', password)
    page.click('button:has-text("Sign in")')


def search(page: Page, base: str, text: str, order_id: str, deadline: float) -> None:
    """Search until the order is listed (the order index follows the event store within moments)."""
    page.goto(f"{base}/console/orders")
    while True:
        page.fill('input[name="q"]', text)
        with page.expect_navigation():
            page.click('button:has-text("Search")')
        if page.locator(f'tr[data-order-id="{order_id}"]').count():
            return
        assert time.monotonic() < deadline, f"{text!r} did not find order {order_id}"
        time.sleep(0.3)


def test_support_finds_a_held_order_reads_its_timeline_and_stock_and_releases_it(system, order_body, sku, page,
                                                                                   shots):
    base = system.url("order-orchestrator", "")
    item = sku()
    system.receive_stock(item, MAIN, 10)
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] == 10
                                  for r in system.router_sees(item)), what="router sees the stock")
    buyer = uuid4().hex[:8]
    body = order_body([(item, 1)], postal_code=RISKY_PIN, customer_email=f"kavya.{buyer}@example.com")
    body["ship_to"]["name"] = f"Kavya Menon {buyer.upper()}"
    order_id = system.post_order(body).json()["order_id"]
    system.wait_for_status(order_id, "on_hold")

    # without a session every page goes to the sign-in page, which remembers where we were going
    page.goto(f"{base}/console/holds")
    expect(page).to_have_url(f"{base}/console/login?next=%2Fconsole%2Fholds")
    snap(page, shots, "sign-in")
    sign_in(page, "not-the-password")
    expect(page.locator('[data-testid="sign-in-error"]')).to_have_text("Wrong user name or password.")
    assert "/console/login" in page.url
    snap(page, shots, "wrong-password")
    page.goto(f"{base}/console/orders")
    expect(page).to_have_url(f"{base}/console/login?next=%2Fconsole%2Forders")  # still no session
    page.goto(f"{base}/console/login?next=%2Fconsole%2Fholds")
    sign_in(page, DEMO_CONSOLE_PASSWORD)
    expect(page).to_have_url(f"{base}/console/holds")
    expect(page.locator('[data-testid="signed-in-user"]')).to_have_text(DEMO_CONSOLE_USER)

    # found by the channel's order id and by the customer
    deadline = time.monotonic() + 30
    search(page, base, body["external_order_id"].lower(), order_id, deadline)
    snap(page, shots, "search-by-channel-order-id")
    search(page, base, f"kavya menon {buyer}", order_id, deadline)
    row = page.locator(f'tr[data-order-id="{order_id}"]')
    expect(row).to_contain_text(f"kavya.{buyer}@example.com")
    expect(row.locator(".badge")).to_have_attribute("data-status", "on_hold")
    snap(page, shots, "search-by-customer")

    # its timeline: every event with its cause, oldest first
    row.locator(f'a[href="/console/orders/{order_id}"]').click()
    expect(page).to_have_url(f"{base}/console/orders/{order_id}")
    history = system.order(order_id).json()["history"]
    events = page.locator('[data-testid="timeline"] li.event')
    assert events.evaluate_all("items => items.map(i => i.dataset.event)") == [h["event"] for h in history]
    assert [h["event"] for h in history][:2] == ["Received", "Held"]
    causes = page.locator('[data-testid="event-cause"]')
    expect(causes).to_have_count(len(history))
    received = history[0]
    assert received["caused_by_service"] and received["causation_id"]
    expect(causes.first).to_contain_text(f"caused by {received['caused_by_service']}")
    expect(causes.first).to_contain_text(received["causation_id"][:13])
    expect(page.locator(".hold-card")).to_contain_text("hold-risky-pins")
    snap(page, shots, "order-held")
    assert badge_of(page, shots, "held") == "amber"

    # its SKU's stock at each location, from the ledger
    page.click('[data-testid="stock-link"]')
    stock_row = page.locator(f'[data-testid="stock-table"] tr[data-location="{MAIN}"]')
    expect(stock_row.locator('[data-figure="on_hand"]')).to_have_text("10")
    expect(stock_row.locator('[data-figure="reserved"]')).to_have_text("0")  # nothing reserved while held
    snap(page, shots, "stock-by-location")

    # released from the held orders, with a reason
    page.click('nav >> text="Held orders"')
    held_row = page.locator(f'[data-testid="held-orders"] tr[data-order-id="{order_id}"]')
    expect(held_row).to_contain_text("hold-risky-pins")
    snap(page, shots, "held-orders")
    held_row.locator('input[name="reason"]').fill("called the buyer: genuine order")
    held_row.locator('button:has-text("Release")').click()
    expect(page.locator(".alert-ok")).to_contain_text("Hold released")
    expect(page.locator(f'[data-testid="held-orders"] tr[data-order-id="{order_id}"]')).to_have_count(0)
    snap(page, shots, "released")

    # and it moves on: reserved, a parcel booked, with who released it on the order and in its timeline
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["hold_released_by"] == DEMO_CONSOLE_USER
    page.goto(f"{base}/console/orders/{order_id}")
    badge = page.locator('[data-testid="order-status"] .badge')
    expect(badge).to_have_attribute("data-status", "shipment_created")
    expect(page.locator('[data-testid="released-by"]')).to_have_text(DEMO_CONSOLE_USER)
    released = page.locator('[data-testid="timeline"] li.event[data-event="HoldReleased"] dl.event-details')
    details = released.evaluate("dl => Object.fromEntries([...dl.querySelectorAll('dt')].map("
                                "dt => [dt.textContent, dt.nextElementSibling.textContent]))")
    assert details["released_by"] == DEMO_CONSOLE_USER and details["note"] == "called the buyer: genuine order"
    assert page.locator('[data-testid="hold-actions"]').count() == 0
    snap(page, shots, "order-moved-on")
    assert badge_of(page, shots, "moved-on") == "green"
    page.click('[data-testid="stock-link"]')
    expect(page.locator(f'tr[data-location="{MAIN}"] [data-figure="reserved"]')).to_have_text("1")

    # signing out ends the session
    page.click('[data-testid="sign-out"]')
    expect(page).to_have_url(f"{base}/console/login?signed_out=1")
    page.goto(f"{base}/console/orders/{order_id}")
    assert "/console/login?next=" in page.url
