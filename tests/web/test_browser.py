"""A real browser (Debian's headless Chromium, driven by Playwright) logs in, submits two photos, sees the gallery."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.web.served import REPO

pytestmark = pytest.mark.slow
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "test-artifacts"))
# Chromium as root, offline: no sandbox, no GPU, no calls home (refused here, and slow to fail).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        message = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_browser_uploads_two_photos_and_sees_the_gallery(served, photos):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{served.url}/jobs/j20260101-000000-00000000")
            assert page.url.endswith("/login")  # no session: the login page
            page.fill("#token", served.tokens["dana"])
            page.click("form[action='/login'] button")
            page.wait_for_url(f"{served.url}/")

            page.set_input_files("#photos", [str(path) for path in photos])
            page.check("input[name=style][value=studio_headshot]")
            page.select_option("#opt-base_model", "tiny")
            page.fill("#opt-num_images", "2")
            page.fill("#opt-keep", "2")
            page.click("details summary")
            for name, value in (("train_steps", "4"), ("resolution", "64"), ("gen_steps", "2"),
                                ("checkpoint_every", "2")):
                page.fill(f"#opt-{name}", value)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-new-job.png"), full_page=True)
            page.click("#submit-job")
            page.wait_for_url(re.compile(r".*/jobs/j\d{8}-\d{6}-[0-9a-f]{8}$"), timeout=30_000)

            # Either the gallery shows or the job ends another way: then fail at once, with the worker's log.
            page.wait_for_function("() => document.querySelector('#gallery img.result') || "
                                   "['failed', 'cancelled', 'crashed'].includes("
                                   "(document.querySelector('#job-state') || {}).innerText)", timeout=600_000)
            state = page.locator("#job-state").inner_text()
            assert page.locator("#gallery img.result").count() > 0, f"job {state}:\n{served.log()}"
            page.wait_for_function("() => [...document.querySelectorAll('#gallery img.result')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
            assert page.locator("#gallery img.result").count() == 2
            assert page.locator("#job-state").inner_text() == "completed"
            captions = page.locator("#photos figcaption").all_inner_texts()
            assert sorted(captions) == ["obama.jpg: ok", "obama2.jpg: ok"], captions
            assert page.locator("#photos img").count() == 2  # the curated crops
            page.screenshot(path=str(ARTIFACTS / "web-job-gallery.png"), full_page=True)
        finally:
            browser.close()
