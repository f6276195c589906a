"""The UI in a real browser (Debian's Chromium, headless) against the running stack.

The UI runs as its own process, started the way `make up` starts it (`infra.launch ui`),
and must answer within 5 s. The browser visits every page and saves a screenshot of
each under test-output/screenshots/ for a reviewer (the Operations page with calls that the
real Prometheus scraped), and submits the predict form to the
real predict function behind the session's gateway and reads the label.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from shared.retrain import handle_call, parse_call
from shared.settings import Settings
from shared.settings.stack import ROOT
from tests.conftest import free_port
from tests.process_support import stop_process
from tests.train_support import store_batches

pytestmark = pytest.mark.services

SCREENSHOTS = ROOT / "test-output" / "screenshots"
START_LIMIT = 5.0
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1800")


@pytest.fixture(scope="module")
def pipeline_settings(stack, gateway) -> Settings:
    """Ten stored batches and one real training (train-model's code) for a group and experiment of
    this module's own. The model is the stack's MODEL_NAME: the one predict serves behind the gateway.
    The batches go in the stack's own bucket: the UI runs as the web-ui role, whose MinIO policy
    covers that bucket only (the stack's train-model ignores another group's events)."""
    suffix = uuid.uuid4().hex[:6]
    settings = dataclasses.replace(stack.settings(), group_number=1000 + int(suffix, 16) % 9000,
                                   experiment_name=f"ui-browser-{suffix}")
    store_batches(settings, range(1, settings.batch_threshold + 1))
    result = handle_call(settings, parse_call(b'{"force": true}'))
    assert result["status"] == "trained", result
    return settings


@pytest.fixture(scope="module")
def ui_server(stack, pipeline_settings, tmp_path_factory):
    """`python -m infra.launch ui` on a free port; yields (url, seconds until it answered)."""
    port = free_port()
    # NiceGUI changes how it runs when it sees pytest's variables: the UI must run as in production
    outside = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env = {**outside, **stack.config.service_env(), "UI_PORT": str(port),
           "GROUP_NUMBER": str(pipeline_settings.group_number), "EXPERIMENT_NAME": pipeline_settings.experiment_name,
           "MODEL_NAME": pipeline_settings.model_name}
    log_path = tmp_path_factory.mktemp("ui") / "ui.log"
    log = log_path.open("w")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "infra.launch", "ui"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        answered = wait_until_answers(url, process, log_path, timeout=30) - started
        yield url, answered
    finally:
        stop_process(process)
        log.close()


def wait_until_answers(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the UI process exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"the UI did not answer within {timeout} s")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("chromium and chromedriver are missing: run `bash infra/setup.sh --tests`")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver, text: str, timeout: float = 20) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def wait_for_element(driver, xpath: str, timeout: float = 20) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(expected_conditions.visibility_of_element_located((By.XPATH, xpath)))


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def test_ui_process_answers_within_five_seconds(ui_server):
    _, answered = ui_server
    print(f"UI process answered {answered:.2f} s after start")
    assert answered < START_LIMIT


@pytest.mark.parametrize(
    "path, name, expected",
    [
        ("/", "pipeline", "10/10 batches stored"),
        ("/experiments", "experiments", "Scores by family and training"),
        ("/models", "models", "The champion is version"),
        ("/predict", "predict", "Upload a CSV to score"),
    ],
)
def test_every_page_renders_in_a_browser(browser, ui_server, path, name, expected):
    url, _ = ui_server
    browser.get(url + path)
    wait_for_text(browser, expected)
    if name == "experiments":
        wait_for_element(browser, "//img[starts-with(@src, 'data:image/png')]")
    assert "Traceback" not in browser.page_source
    assert screenshot(browser, name).stat().st_size > 10_000


def test_operations_page_shows_calls_and_logs(browser, ui_server, prometheus, gateway):
    """Calls through the gateway, scraped by the real Prometheus, drawn on the Operations page."""
    from tests.test_prometheus import query, wait_for

    for _ in range(3):  # three bursts a scrape apart: the rate charts get points
        for _ in range(10):
            requests.get(f"{gateway}/function/predict", timeout=30)
        time.sleep(6)
    rate = 'sum(rate(gateway_function_invocation_total{function_name="predict.openfaas-fn"}[1m]))'
    wait_for(lambda: (query(prometheus, rate) or 0) > 0, "Prometheus has a predict rate")
    url, _ = ui_server
    browser.get(url + "/operations")
    wait_for_text(browser, "fetch-batch: schedule */5 * * * *")
    wait_for_text(browser, "Function logs")
    wait_for_element(browser, "//div[contains(@class, 'nicegui-echart')]//canvas")
    page = browser.page_source
    assert "Traceback" not in page and "not reachable" not in page and "Log unavailable" not in page
    assert "No calls recorded" not in page
    time.sleep(1)  # the charts draw once their options arrive
    assert screenshot(browser, "operations").stat().st_size > 10_000


def test_prediction_through_the_form(browser, ui_server):
    from selenium.webdriver.common.by import By

    url, _ = ui_server
    browser.get(url + "/predict")
    wait_for_text(browser, "Upload a CSV to score")
    browser.find_element(By.XPATH, "//button[.//span[contains(., 'Predict')]]").click()
    wait_for_text(browser, "(cover type", timeout=60)
    label = browser.find_element(By.XPATH, "//*[contains(text(), '(cover type')]").text
    assert label.split(" (cover type")[0]
    assert "version" in browser.find_element(By.XPATH, "//*[starts-with(text(), 'model ')]").text
    screenshot(browser, "predict-answer")


def test_promotion_in_the_browser_is_served_by_predict(browser, ui_server, stack):
    """Promote the oldest version through the dialog; the next predictions name it."""
    from selenium.webdriver.common.by import By

    url, _ = ui_server
    browser.get(url + "/models")
    wait_for_text(browser, "The champion is version")
    browser.find_element(By.XPATH, "//label[.//div[text()='Version']]").click()
    browser.find_element(By.XPATH, "//div[contains(@class, 'q-item')][.//span[starts-with(., 'version 1 ')]]").click()
    browser.find_element(By.XPATH, "//button[.//span[contains(., 'Promote')]]").click()
    wait_for_text(browser, "Make version 1 the champion?")
    browser.find_element(By.XPATH, "//label[.//div[text()='Admin user']]//input").send_keys(
        stack.config.secret("basic-auth-user"))
    browser.find_element(By.XPATH, "//label[.//div[text()='Admin password']]//input").send_keys(
        stack.config.secret("basic-auth-password"))
    screenshot(browser, "models-promote-dialog")
    browser.find_element(By.XPATH, "//button[.//span[contains(., 'Confirm')]]").click()
    wait_for_text(browser, "The champion is version 1.")

    browser.get(url + "/predict")
    wait_for_text(browser, "Upload a CSV to score")
    deadline = time.monotonic() + 60  # predict checks the alias every MODEL_POLL_SECONDS
    while True:
        browser.find_element(By.XPATH, "//button[.//span[contains(., 'Predict')]]").click()
        wait_for_text(browser, "(cover type", timeout=30)
        if "version 1" in browser.find_element(By.XPATH, "//*[starts-with(text(), 'model ')]").text:
            break
        assert time.monotonic() < deadline, "predict did not pick up the promoted version within 60 s"
        time.sleep(2)
