"""The web console in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven
by Selenium against a real ``aixgo serve``, its model the local OpenAI-compatible test server.

A user signs in with a key, finds a session by a word of its content, opens it and sees its tool call,
restores a checkpoint, chats with an agent and sees the answer grow while the model is still streaming
(the test server holds the rest of its answer until the page shows the first part: an order of events,
never a clock), sees the tool call the agent makes as it happens, and presses Stop. Skipped when Chromium
or chromedriver is missing, unless ``AIXGO_REQUIRE_BROWSER=1`` (CI). Screenshots go to
``AIXGO_CONSOLE_SCREENSHOTS`` when it is set (docs/img for docs/serve.md), else to the test's folder.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aixgo.session import EntryType, FileBackend, Manager
from tests.server.serving import Served, write_config
from tests.support.openai_server import OpenAIServer, Reply, call, tool_calls

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
KEY = "alice-key-123456"
WAIT = 30.0

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - selenium is in the dev extra
    webdriver = None  # type: ignore[assignment]


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None or DRIVER is None:
        return "headless Chromium is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    problem = _missing()
    if problem is not None:
        if os.environ.get("AIXGO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AIXGO_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, OpenAIServer, Path]]:
    tmp_path = tmp_path_factory.mktemp("console")
    store = tmp_path / "store"
    with Manager(FileBackend(store)) as manager:
        for number in range(12):
            other = manager.create("bot", f"older-{number:02d}", user_id="alice")
            other.append_message("user", f"Plan the week, item {number}")
            other.append_message("assistant", "Done.")
        session = manager.create("bot", "trip-1", user_id="alice")
        session.append_message("user", "How far is it from Lisbon to Zanzibar, in km?")
        session.append_entry(EntryType.TOOL_CALL, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "7230*1"}'}}]})
        session.append_entry(EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "call_1", "content": "7230"})
        session.append_message("assistant", "About 7,230 km.")
        session.append_entry(EntryType.USAGE, {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62})
        session.checkpoint(metadata={"note": "after the distance"})
        session.append_message("user", "And in miles?")
        session.append_message("assistant", "About 4,490 miles.")
        theirs = manager.create("bot", "bobs-zanzibar", user_id="bob")
        theirs.append_message("user", "Zanzibar for bob only")
    extra = ("server:\n  api_keys:\n    - {key: \"${ALICE_KEY}\", user: alice}\n    - {key: bob-key-1234567, user: bob}\n")
    with OpenAIServer() as upstream:
        config = write_config(tmp_path, upstream, extra=extra)
        text = config.read_text().replace("{name: bot, model: test-model}",
                                          "{name: bot, model: test-model, tools: [calculator]}")
        text = text.replace("{name: other, model: test-model}",
                            "{name: other, model: test-model, tools: [calculator], require_approval: [calculator]}")
        config.write_text(text)
        with Served(config, env={"ALICE_KEY": KEY}) as served:
            yield served, upstream, store


def until(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    # the page re-renders as answers arrive: an element found a moment ago may be gone; look again
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(condition, message=f"waiting for {what}")


def shot(driver: WebDriver, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("AIXGO_CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / name))


def click(driver: WebDriver, element: WebElement) -> None:
    """Click ``element`` once it is scrolled to the middle of the page (clear of the sticky message box)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def rows(driver: WebDriver) -> list[str]:
    ids = driver.execute_script("return [...document.querySelectorAll('#sessions tr')].map(r => r.dataset.id)")
    return [str(i) for i in ids]


def live_text(driver: WebDriver) -> str:
    text = driver.execute_script("const e = document.getElementById('live-text'); return e ? e.textContent : ''")
    return str(text)


def visible(driver: WebDriver, css: str) -> WebElement | None:
    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    return found[0] if found else None


def test_sign_in_find_open_restore_chat_and_stop(
    browser: WebDriver, console: tuple[Served, OpenAIServer, Path], tmp_path: Path
) -> None:
    served, upstream, store = console
    driver = browser
    driver.get(f"{served.url}/ui")

    # sign in: a wrong key is refused, the right one shows the user's sessions (and nobody else's)
    until(driver, lambda d: visible(d, "#signin-key"), "the sign-in form")
    driver.find_element(By.ID, "signin-key").send_keys("not-a-key-at-all")
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    until(driver, lambda d: visible(d, "#signin-error"), "the refusal")
    key_field = driver.find_element(By.ID, "signin-key")
    key_field.clear()
    key_field.send_keys(KEY)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    until(driver, lambda d: "trip-1" in rows(d), "the sessions list")
    assert "bobs-zanzibar" not in rows(driver)
    assert driver.find_element(By.ID, "who-name").text == "alice · user"
    assert not any(c["name"] == "aixgo_key" and not c.get("httpOnly") for c in driver.get_cookies())
    assert driver.execute_script("return document.cookie") == ""  # the key is out of scripts' reach
    first = driver.find_element(By.CSS_SELECTOR, '#sessions tr[data-id="trip-1"]')
    assert "How far is it from Lisbon to Zanzibar" in first.text and "62" in first.text
    shot(driver, "console-sessions.png", tmp_path)

    # find the session by a word of its content, open it, see its tool call
    search = driver.find_element(By.ID, "search")
    search.send_keys("zanzi")
    driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
    until(driver, lambda d: rows(d) == ["trip-1"], "the search's one match")
    driver.find_element(By.CSS_SELECTOR, '#sessions tr[data-id="trip-1"] td.title a').click()
    until(driver, lambda d: d.find_element(By.ID, "s-id").text == "trip-1", "the session page")
    call_node = until(driver, lambda d: visible(d, 'details.call[data-tool="calculator"]'), "the tool call")
    click(driver, call_node.find_element(By.TAG_NAME, "summary"))
    assert "7230*1" in call_node.find_element(By.TAG_NAME, "pre").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline li")) == 1
    assert "62 (50 prompt, 12 completion, 1 turn)" in driver.find_element(By.ID, "s-tokens").text
    assert "None." in driver.find_element(By.ID, "approvals").text  # nothing waits for an approval here
    shot(driver, "console-session.png", tmp_path)

    # restore the checkpoint, confirmed: the last exchange leaves the history
    assert "And in miles?" in driver.find_element(By.ID, "transcript").text
    click(driver, driver.find_element(By.CSS_SELECTOR, "#timeline li button.restore"))
    until(driver, lambda d: visible(d, "#confirm-ok"), "the confirmation")
    assert "Restore session trip-1" in driver.find_element(By.ID, "confirm-text").text
    driver.find_element(By.ID, "confirm-ok").click()
    until(driver, lambda d: "And in miles?" not in d.find_element(By.ID, "transcript").text, "the restored history")
    with Manager(FileBackend(store)) as manager:
        assert manager.get("trip-1").get_info().message_count == 4

    # chat: the agent calls its tool (shown as it happens), then the answer grows while the model streams
    released = threading.Event()
    upstream.enqueue(tool_calls(call("calculator", {"expression": "7230/1.609"}, id="call_2")),
                     Reply(content="That is about 4493 miles by air.", hold=released))
    driver.find_element(By.ID, "message").send_keys("So how many miles, exactly?")
    driver.find_element(By.ID, "send").click()
    until(driver, lambda d: visible(d, '#live details.call[data-tool="calculator"]'), "the live tool call")
    until(driver, lambda d: visible(d, "#live details.result"), "the live tool result")
    until(driver, lambda d: live_text(d).startswith("That"), "the first words of the answer")
    # the model still holds the rest of its answer: the page shows what arrived, not a finished reply
    assert not released.is_set() and "4493" not in live_text(driver)
    assert not driver.find_element(By.ID, "stop").get_attribute("disabled")
    driver.execute_script("document.getElementById('live').scrollIntoView({block: 'center'})")
    shot(driver, "console-chat.png", tmp_path)
    released.set()
    until(driver, lambda d: "That is about 4493 miles by air." in d.find_element(By.ID, "transcript").text
          and not d.find_elements(By.ID, "live"), "the whole answer, stored")
    assert upstream.holds_timed_out == 0

    # Stop: the turn is cancelled while the model is still answering, and the session says so
    held = threading.Event()
    try:
        upstream.enqueue(Reply(content="one two three four five six", hold=held))
        driver.find_element(By.ID, "message").send_keys("Count slowly")
        driver.find_element(By.ID, "send").click()
        until(driver, lambda d: live_text(d).startswith("one"), "the first word")
        driver.find_element(By.ID, "stop").click()
        try:
            until(driver, lambda d: visible(d, ".badge.cancelled"), "the cancelled turn in the transcript")
        except Exception:
            print("TRANSCRIPT", driver.find_element(By.ID, "transcript").text, driver.find_element(By.ID, "chat-status").text)
            print("SERVER", served._output()[-5000:])
            raise
        assert "Stopped" in driver.find_element(By.ID, "chat-status").text
        assert "six" not in driver.find_element(By.ID, "transcript").text
        driver.execute_script("document.querySelector('.badge.cancelled').scrollIntoView({block: 'center'})")
        shot(driver, "console-stopped.png", tmp_path)
    finally:
        held.set()
    with Manager(FileBackend(store)) as manager:
        entries = manager.get("trip-1").get_entries()
    errors = [e.data for e in entries if e.type is EntryType.ERROR]
    assert errors and errors[-1]["error"] == "CancelledError"
    assert not [e for e in entries if e.data.get("content") == "one two three four five six"]


def test_a_tool_call_waits_for_approval_and_the_console_approves_it(
    browser: WebDriver, console: tuple[Served, OpenAIServer, Path], tmp_path: Path
) -> None:
    """Agent ``other`` needs approval for its calculator: a new chat with it pauses, the console shows the
    waiting call, and Approve runs it and lets the turn finish."""
    served, upstream, store = console
    driver = browser
    driver.get(f"{served.url}/ui#/new/other")  # still signed in: the cookie lives as long as the browser
    until(driver, lambda d: visible(d, "#message") and d.find_element(By.ID, "s-agent").text == "other",
          "a new chat with agent other")
    upstream.enqueue(tool_calls(call("calculator", {"expression": "6*7"}, id="call_7")), "It is 42.")
    driver.find_element(By.ID, "message").send_keys("What is six times seven?")
    driver.find_element(By.ID, "send").click()
    waiting = until(driver, lambda d: visible(d, '#approvals-list li[data-call="call_7"]'), "the waiting call")
    assert "calculator" in waiting.text and "6*7" in waiting.text
    assert "It is 42." not in driver.find_element(By.ID, "transcript").text  # the turn waits: nothing ran
    driver.execute_script("document.getElementById('approvals').scrollIntoView({block: 'start'})")
    shot(driver, "console-approval.png", tmp_path)
    click(driver, waiting.find_element(By.CSS_SELECTOR, "button.approve"))
    until(driver, lambda d: "It is 42." in d.find_element(By.ID, "transcript").text, "the continued turn's answer")
    assert visible(driver, "#approvals-empty") is not None
    assert "42" in driver.find_element(By.CSS_SELECTOR, '.entry[data-type="tool_result"]').text
    session_id = driver.find_element(By.ID, "s-id").text
    with Manager(FileBackend(store)) as manager:
        session = manager.get(session_id)
        assert session.user_id == "alice" and session.pending_approval() is None


def test_console_assets_are_served_from_the_package_with_a_strict_policy(
    console: tuple[Served, OpenAIServer, Path],
) -> None:
    served = console[0]
    page = httpx.get(f"{served.url}/ui")
    assert page.status_code == 200 and "/ui/assets/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace(f"{served.url}", "")  # nothing from elsewhere
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")):
        asset = httpx.get(f"{served.url}/ui/assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert "https://" not in asset.text
    assert httpx.get(f"{served.url}/ui/assets/..%2Fapp.py").status_code == 404
    assert httpx.get(f"{served.url}/ui/assets/index.py").status_code == 404
    assert httpx.get(f"{served.url}/ui/api/me").status_code == 401
