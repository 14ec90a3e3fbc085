"""The demo page in a real browser (Debian's Chromium driven by Playwright): type a sentence,
press Invert, watch the grid fill, read the result. Saves a screenshot; with
UNEMBED_SCREENSHOT=path it also writes the README's picture there."""
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Chromium for the page test: apt-get install chromium")
    pytest.skip("no Chromium here (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def invert_on_page(page, server, model, text):
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelector('#model').options.length > 1")
    page.select_option("#model", model)
    page.fill("#text", text)
    page.click("#invert")
    page.wait_for_selector("#grid .cell.masked", timeout=30_000)       # the steps are shown
    page.wait_for_selector('#result[data-done="true"]', timeout=120_000)


def test_the_page_recovers_a_sentence_step_by_step_offline(browser, live_server, tiny_data, tmp_path):
    page = browser.new_page(viewport={"width": 1150, "height": 820})
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    sentence = (tiny_data / "train.txt").read_text().splitlines()[0]
    invert_on_page(page, live_server, "tiny", sentence)
    assert page.get_attribute("#recovered", "data-text") == sentence   # the tiny model memorised it
    assert page.locator("#grid .cell.masked").count() == 0
    assert page.locator("#grid .cell").count() >= len(sentence.split())
    assert float(page.inner_text("#cosine")) > 0.99 and page.inner_text("#accuracy") == "100.0%"
    assert page.locator("#original .miss").count() == 0                 # token diff: nothing missing
    assert "384-d" in page.inner_text("#norm")
    assert all(url.startswith(live_server.url) for url in requested), requested  # no CDN, no network


def test_the_page_with_the_shipped_model_and_a_random_example(browser, live_server, tmp_path):
    page = browser.new_page(viewport={"width": 1150, "height": 820})
    page.goto(live_server.url + "/")
    page.wait_for_function("document.querySelector('#model').options.length > 1")
    page.click("#random")
    text = page.input_value("#text")
    assert text.strip()
    invert_on_page(page, live_server, "en", "The old library keeps its rarest books in a locked room in the basement.")
    recovered = page.get_attribute("#recovered", "data-text")
    assert recovered.strip() and -1 <= float(page.inner_text("#cosine")) <= 1
    assert page.locator("#original span").count() > 5                   # the token-level diff is drawn
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    if os.environ.get("UNEMBED_SCREENSHOT"):
        shutil.copy(tmp_path / "demo.png", Path(os.environ["UNEMBED_SCREENSHOT"]))


def test_a_bad_vector_is_explained_on_the_page(browser, live_server):
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.wait_for_function("document.querySelector('#model').options.length > 1")
    page.click("#mode-vector")
    page.fill("#vector", "[1, 2, 3]")
    page.click("#invert")
    page.wait_for_function("document.querySelector('#status').textContent.length > 0")
    assert "384" in page.inner_text("#status")
    page.fill("#vector", "not json")
    page.click("#invert")
    page.wait_for_function("document.querySelector('#status').textContent.includes('JSON')")


def test_the_page_shows_each_round_of_an_encoder_guided_strategy(browser, live_server, tiny_data):
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.wait_for_function("document.querySelector('#model').options.length > 1")
    page.select_option("#model", "tiny")
    page.select_option("#strategy", "refine")
    page.fill("#text", (tiny_data / "train.txt").read_text().splitlines()[2])
    page.click("#invert")
    page.wait_for_selector('#result[data-done="true"]', timeout=120_000)
    rounds = page.locator("#rounds li")
    assert rounds.count() >= 2 and "cosine" in rounds.first.inner_text() and "by decode" in rounds.first.inner_text()
    assert page.locator("#grid .cell.masked").count() == 0 and float(page.inner_text("#cosine")) > 0


def test_the_audit_report_reads_offline_in_a_browser(browser, tiny_run, tiny_data, tmp_path):
    """report.html, as mailed to someone without unembed: no request leaves the file, the table
    has a row per defense, the plot is drawn from inside the page, the advice is there."""
    import json
    from conftest import run_cli
    out = tmp_path / "audit"
    done = run_cli("audit", tiny_data / "train.txt", "--model", tiny_run / "last" / "model",
                   "--defenses", "binary,pca:8", "--out", out, "-q", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    page = browser.new_page()
    requested = []
    page.route("**/*", lambda route: (requested.append(route.request.url), route.continue_()
                                      if route.request.url.startswith("file://") else route.abort()))
    page.goto((out / "report.html").as_uri())
    assert all(url.startswith("file://") for url in requested) and len(requested) == 1   # nothing else fetched
    rows = page.locator("#defenses tbody tr")
    assert rows.count() == len(report["defenses"]) == 3
    assert page.locator("#defenses tbody tr td code").all_inner_texts() == ["none", "binary", "pca:8"]
    assert page.evaluate("document.querySelector('#tradeoff').naturalWidth") > 300   # the inline PNG decoded
    assert page.locator("#examples li").count() >= 1
    assert page.locator(".advice").inner_text().strip()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()
