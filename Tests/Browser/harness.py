"""What every browser test shares: a headless Chromium per test, sign-in helpers, a screenshot
for every failure, and a browser console that must stay free of errors."""

import functools
import os
import re
import time
import unittest
import urllib.parse

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

BASE_URL = os.environ.get("PATRON_URL", "http://127.0.0.1:8080").rstrip("/")
ARTIFACTS = os.environ.get("PATRON_BROWSER_ARTIFACTS", "browser-artifacts")
OWNER = (os.environ.get("PATRON_OWNER_EMAIL", ""), os.environ.get("PATRON_OWNER_PASSWORD", ""))
MARKETER = (os.environ.get("PATRON_MARKETER_EMAIL", ""), os.environ.get("PATRON_MARKETER_PASSWORD", ""))

PHONE = (375, 812)
DESKTOP = (1440, 900)


def _screenshot_on_failure(test):
    """Saves the page as it stood when `test` failed, before tearDown closes the browser.

    (tearDown cannot tell: unittest resets its record of success for each part of a test.)"""
    @functools.wraps(test)
    def watched(self, *args, **kwargs):
        try:
            return test(self, *args, **kwargs)
        except unittest.SkipTest:
            raise
        except BaseException:
            self.failed = True
            self.save_screenshot()
            raise
    return watched


class BrowserTestCase(unittest.TestCase):
    """One fresh browser (no cookies) per test, at desktop width unless a test resizes it."""

    window = DESKTOP

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if name.startswith("test") and callable(value):
                setattr(cls, name, _screenshot_on_failure(value))

    def setUp(self):
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--lang=en-US", f"--window-size={self.window[0]},{self.window[1]}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)
        # A headless window is never narrower than 500 px: narrower widths are emulated, as a
        # phone's are, so that pages lay out at exactly `window`.
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": self.window[0], "height": self.window[1], "deviceScaleFactor": 1,
            "mobile": self.window[0] < 600})
        # Console messages a test expects (a page it is refused, say), as regular expressions.
        self.expected_console = []
        self.failed = False

    def tearDown(self):
        try:
            errors = [entry["message"] for entry in self.driver.get_log("browser")
                      if entry["level"] == "SEVERE"
                      and not any(re.search(pattern, entry["message"]) for pattern in self.expected_console)]
            if errors and not self.failed:
                self.save_screenshot()
        finally:
            self.driver.quit()
        if not self.failed:
            self.assertEqual(errors, [], "the browser's console logged errors")

    def save_screenshot(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{self.id()}.png")
        self.driver.save_screenshot(path)
        print(f"\nscreenshot: {path}\nat: {self.driver.current_url}")

    # --- navigation -------------------------------------------------------------------------
    def open(self, path):
        self.driver.get(BASE_URL + path)

    def path(self):
        url = self.driver.current_url
        return url[len(BASE_URL):] if url.startswith(BASE_URL) else url

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css, timeout=10):
        return WebDriverWait(self.driver, timeout).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))

    def submit(self, css):
        """Clicks the button and waits until the next page has replaced this one: waiting for an
        element alone would find it on the page being left."""
        leaving = self.find("html")
        self.find(css).click()
        self.wait_until_left(leaving)

    def wait_until_left(self, page):
        """Waits until `page` (the old page's <html>) is gone. Chromium sometimes answers a
        question about an element of a page that was replaced with "does not belong to the
        document" rather than "stale": gone either way."""
        def left(driver):
            try:
                page.is_enabled()
                return False
            except (StaleElementReferenceException, WebDriverException):
                return True
        WebDriverWait(self.driver, 10).until(left)

    def post_form(self, action, fields):
        """Posts a hand-made form to `action` with the page's own CSRF token (the sign-out form's),
        as a second submit or a request made by someone signed in would, and waits for the
        answer's page."""
        page = self.find("html")
        self.driver.execute_script("""
            const [action, fields] = arguments;
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            const values = Object.assign({_csrf: document.querySelector('form#sign-out input[name=_csrf]').value}, fields);
            for (const [name, value] of Object.entries(values)) {
              const input = document.createElement('input');
              input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        """, action, fields)
        self.wait_until_left(page)

    def field(self, label):
        """The form field whose <label> reads `label` — so every field used is labelled."""
        for element in self.find_all("label"):
            if element.text.strip() == label:
                target = element.get_attribute("for")
                self.assertTrue(target, f"the label {label!r} names no field")
                return self.find(f"#{target}")
        self.fail(f"no field labelled {label!r} on {self.path()}")

    def heading(self):
        return self.find("h1").text.strip()

    # --- signing in ----------------------------------------------------------------------------
    def sign_in(self, account, expect_success=True):
        email, password = account
        self.open("/console/sign-in")
        self.field("Email").send_keys(email)
        self.field("Password").send_keys(password)
        self.find("form#sign-in button[type=submit]").click()
        if expect_success:
            self.wait_for("nav.console")

    # --- the member portal ------------------------------------------------------------------
    def member_phone(self, external_id):
        """The member's phone number, as the console shows it."""
        self.sign_in(OWNER)
        self.open(f"/console/programs/demo/members?q={external_id}")
        self.find("table.members a").click()
        self.wait_for("section#ledger")
        for row in self.find_all("dl.facts div"):
            if row.find_element("css selector", "dt").text == "Phone":
                return row.find_element("css selector", "dd").text
        self.fail("no phone")

    def code_from_outbox(self, phone):
        """The newest code sent to `phone`, read in the console's outbox."""
        self.open("/console/outbox")
        for row in self.find_all("table.outbox tbody tr"):
            if phone in row.text:
                return re.search(r"\b(\d{6})\b", row.text).group(1)
        self.fail(f"no message to {phone} in the outbox")

    def ask_for_code(self, contact):
        self.open("/m/demo")
        self.field("Phone number or e-mail").send_keys(contact)
        self.submit("form#portal-contact button[type=submit]")

    def sign_in_to_portal(self, external_id):
        """Signs in to the demo portal as the member, with the code the console's outbox shows."""
        phone = self.member_phone(external_id)
        self.driver.delete_all_cookies()
        self.ask_for_code(phone)
        self.sign_in(OWNER)
        code = self.code_from_outbox(phone)
        self.driver.delete_all_cookies()
        self.enter_code(phone, code)
        self.wait_for(".member-card")

    def enter_code(self, contact, code):
        """Types `code` on the portal's code page for `contact`, as the member left it."""
        self.open(f"/m/demo/code?to={urllib.parse.quote(contact, safe='')}")
        self.field("Code").send_keys(code)
        self.submit("form#portal-code button[type=submit]")

    # --- page checks that hold everywhere --------------------------------------------------
    def assert_page_fits(self):
        """Nothing wider than the window: no sideways scrolling at this width."""
        width = self.driver.execute_script("return window.innerWidth")
        self.assertEqual(width, self.window[0], "the page is not laid out at the width under test")
        overflow = self.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        self.assertLessEqual(overflow, 0, f"{self.path()} scrolls sideways by {overflow}px")

    def assert_fields_labelled(self):
        """Every visible form control has a label (a <label for>, an enclosing label or aria-label)."""
        unlabelled = self.driver.execute_script("""
            return [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.offsetParent !== null)
              .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
              .map(e => e.name || e.id || e.outerHTML.slice(0, 60));
        """)
        self.assertEqual(unlabelled, [], f"unlabelled fields on {self.path()}")

    def focus_top(self):
        """Puts the keyboard where a keyboard user starts: before everything. (A click would move
        the starting point of sequential focus to wherever it landed.)"""
        self.driver.execute_script("""
            document.activeElement && document.activeElement.blur();
            const start = document.createElement('span');
            start.tabIndex = -1;
            document.body.prepend(start);
            start.focus();
            start.remove();
            window.scrollTo(0, 0);
        """)

    def press_tab(self):
        ActionChains(self.driver).send_keys(Keys.TAB).perform()

    def assert_keyboard_reaches(self, css):
        """Tabbing from the top of the page reaches the element (within 60 presses)."""
        target = self.find(css)
        self.focus_top()
        for _ in range(60):
            self.press_tab()
            if self.driver.switch_to.active_element == target:
                return
        self.fail(f"{css} is not reachable with the keyboard on {self.path()}")

    def assert_every_control_reachable(self):
        """Tabbing from the top reaches every visible link, button and field of the page (a radio
        group once: arrow keys move within it)."""
        count = self.driver.execute_script("""
            const controls = [...document.querySelectorAll(
                'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
              .filter(e => !e.disabled && e.type !== 'hidden' && e.tabIndex >= 0 && e.getClientRects().length > 0
                           && getComputedStyle(e).visibility !== 'hidden')
              // A radio group is one stop (its checked button); arrows move within it.
              .filter(e => !(e.type === 'radio' && !e.checked && e.form
                             && [...e.form.elements].some(o => o.type === 'radio' && o.name === e.name && o.checked)));
            controls.forEach((e, i) => e.dataset.kbd = i);
            return controls.length;
        """)
        self.focus_top()
        reached = set()
        for _ in range(count + 10):
            self.press_tab()
            index = self.driver.execute_script("return document.activeElement && document.activeElement.dataset.kbd")
            if index is not None:
                reached.add(int(index))
            if len(reached) == count:
                return
        missed = self.driver.execute_script(
            "return [...document.querySelectorAll('[data-kbd]')].filter(e => !arguments[0].includes(+e.dataset.kbd))"
            ".slice(0, 5).map(e => e.outerHTML.slice(0, 80))", sorted(reached))
        self.fail(f"{self.path()}: {count - len(reached)} controls not reached with the keyboard, such as {missed}")

    def settle(self, seconds=0.2):
        time.sleep(seconds)
