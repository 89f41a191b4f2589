"""API keys and operator users in the console, for the owner: a key's secret shown once and
working against the API, revocation that stops it, and a person's role changed, then removed."""

import json
import urllib.error
import urllib.request

from selenium.webdriver.support.ui import Select

from harness import BASE_URL, MARKETER, OWNER, BrowserTestCase


def api(path, secret):
    request = urllib.request.Request(BASE_URL + path, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


class Keys(BrowserTestCase):
    def test_a_key_is_shown_once_works_and_stops_working_when_revoked(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.find("nav.console a[href='/console/keys']").click()
        self.wait_for("form#new-key")
        self.submit("form#new-key button[type=submit]")
        name = self.field("Name")
        self.assertEqual(name.get_attribute("aria-invalid"), "true")
        self.assertIn("1 to 100 characters", self.find("#key-name-fault").text)

        name.send_keys("POS in store 12")
        Select(self.field("Role")).select_by_value("integration")
        Select(self.field("Program")).select_by_value("demo")
        self.submit("form#new-key button[type=submit]")
        secret = self.find("#new-secret").get_attribute("value")
        self.assertIn("shown this once", self.find(".secret-card").text)
        status, body = api("/v1/programs/demo", secret)
        self.assertEqual(status, 200)
        self.assertEqual(body["code"], "demo")
        # Shown once: the list page never shows it again.
        self.open("/console/keys")
        self.assertNotIn(secret, self.driver.page_source)
        self.assertIn(secret[:8], self.find("table.keys").text)

        self.submit("button[aria-label='Revoke the key POS in store 12']")
        self.assertIn("revoked", self.find("[role=status]").text)
        self.assertEqual(api("/v1/programs/demo", secret)[0], 401)

    def test_a_marketer_cannot_reach_the_keys(self):
        self.expected_console.append(r"status of 403")
        self.sign_in(MARKETER)
        self.assertEqual(self.find_all("nav.console a[href='/console/keys']"), [])
        self.open("/console/keys")
        self.assertEqual(self.heading(), "Not allowed")


class People(BrowserTestCase):
    def row(self, email):
        return self.find(f"table.operators tr[data-operator='{email}']")

    def test_the_owner_changes_a_role_then_removes_the_person(self):
        self.expected_console.append(r"status of 40[19]")
        self.sign_in(OWNER)
        self.open("/console/users")
        self.field("Email").send_keys("temp@example.com")
        self.field("Name").send_keys("Tess Temp")
        Select(self.field("Role")).select_by_value("analyst")
        self.field("Initial password").send_keys("a long enough password")
        self.submit("form#new-operator button[type=submit]")

        Select(self.find("select[aria-label='Role of temp@example.com']")).select_by_value("support")
        self.submit("tr[data-operator='temp@example.com'] form.inline button")
        self.assertIn("new role", self.find("[role=status]").text)
        self.assertEqual(Select(self.find("select[aria-label='Role of temp@example.com']")).first_selected_option.text,
                         "support")
        # Nobody removes themselves: the owner's own row has no remove button.
        self.assertEqual(self.row("owner@example.com").find_elements("css selector", "button[aria-label^='Remove']"), [])

        self.submit("button[aria-label='Remove temp@example.com']")
        self.assertIn("can no longer sign in", self.find("[role=status]").text)
        self.assertIn("removed", self.row("temp@example.com").text)
        self.driver.delete_all_cookies()
        self.sign_in(("temp@example.com", "a long enough password"), expect_success=False)
        self.assertIn("email or password is not right", self.wait_for("[role=alert]").text)
