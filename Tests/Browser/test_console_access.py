"""Operators sign in, are refused with a wrong password, sign out, and see only what their role
allows — enforced by the server, not only hidden in the page."""

import urllib.request
import urllib.error

from selenium.webdriver.support.ui import Select

from harness import BASE_URL, DESKTOP, MARKETER, OWNER, PHONE, BrowserTestCase


class SignIn(BrowserTestCase):
    def test_a_page_of_the_console_asks_for_sign_in_first(self):
        self.open("/console")
        self.assertTrue(self.path().startswith("/console/sign-in"), self.path())
        self.assertEqual(self.heading(), "Sign in to Patron")
        self.assert_fields_labelled()

    def test_a_wrong_password_is_refused_and_says_so(self):
        self.expected_console.append(r"status of 401")
        email, _ = OWNER
        self.sign_in((email, "not-the-password"), expect_success=False)
        alert = self.wait_for("[role=alert]")
        self.assertIn("email or password is not right", alert.text)
        self.assertTrue(self.path().startswith("/console/sign-in"))
        # What was typed as the email stays; the password does not.
        self.assertEqual(self.field("Email").get_attribute("value"), email)
        self.assertEqual(self.field("Password").get_attribute("value"), "")

    def test_the_owner_signs_in_and_out(self):
        self.sign_in(OWNER)
        self.assertEqual(self.path(), "/console")
        self.assertIn("Olivia Owner", self.find("nav.console").text)
        self.assertIn("demo", self.find("main").text)
        self.find("form#sign-out button").click()
        self.wait_for("form#sign-in")
        # The session is gone on the server: the console asks for sign-in again.
        self.open("/console")
        self.assertTrue(self.path().startswith("/console/sign-in"), self.path())

    def test_the_sign_in_page_speaks_chinese_when_asked(self):
        self.open("/console/sign-in")
        self.find("a[hreflang=zh-Hans]").click()
        self.wait_for("html[lang=zh-Hans]")
        self.assertEqual(self.heading(), "登录 Patron")
        # The choice is remembered.
        self.open("/console/sign-in")
        self.assertEqual(self.heading(), "登录 Patron")


class Roles(BrowserTestCase):
    def test_a_marketer_is_refused_the_owner_only_page(self):
        self.expected_console.append(r"status of 403")
        self.sign_in(MARKETER)
        nav = self.find("nav.console").text
        self.assertNotIn("Operators", nav)
        self.open("/console/users")
        self.assertEqual(self.heading(), "Not allowed")
        self.assertIn("owner", self.find("main").text)

    def test_a_console_address_that_is_not_there_is_a_page(self):
        self.expected_console.append(r"status of 404")
        self.sign_in(OWNER)
        self.open("/console/programs/demo/nothing-here")
        self.assertEqual(self.heading(), "Not found")
        self.assertIn("Olivia Owner", self.find("nav.console").text)

    def test_the_owner_sees_the_operators(self):
        self.sign_in(OWNER)
        self.find("nav.console a[href='/console/users']").click()
        self.wait_for("table.operators")
        rows = self.find("table.operators").text
        self.assertIn("owner@example.com", rows)
        self.assertIn("marketer@example.com", rows)

    def test_a_form_posted_without_its_csrf_token_is_refused(self):
        # A request from elsewhere: the session cookie would ride along, the token cannot.
        request = urllib.request.Request(BASE_URL + "/console/sign-out", data=b"", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(caught.exception.code, 403)


class Widths(BrowserTestCase):
    window = PHONE

    def test_the_console_fits_a_phone(self):
        self.open("/console/sign-in")
        self.assert_page_fits()
        self.assert_keyboard_reaches("form#sign-in button[type=submit]")
        self.sign_in(OWNER)
        self.assert_page_fits()
        self.assert_fields_labelled()


class WideWidths(BrowserTestCase):
    window = DESKTOP

    def test_the_console_fits_a_desktop(self):
        self.sign_in(OWNER)
        self.assert_page_fits()
        self.open("/console/users")
        self.assert_page_fits()
        self.assert_keyboard_reaches("form#sign-out button")


class Operators(BrowserTestCase):
    def test_the_owner_adds_an_operator_after_fixing_what_the_form_says(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.open("/console/users")
        self.field("Email").send_keys("not-an-email")
        self.field("Initial password").send_keys("short")
        self.find("form#new-operator button[type=submit]").click()
        self.wait_for("[role=alert]")
        # Each message stands beside its field and is tied to it for screen readers.
        email = self.field("Email")
        self.assertEqual(email.get_attribute("aria-invalid"), "true")
        self.assertEqual(self.find("#" + email.get_attribute("aria-describedby")).text, "This is not an email address.")
        self.assertEqual(self.find("#new-name-fault").text, "A name is 1 to 200 characters.")
        self.assertEqual(self.find("#new-password-fault").text, "A password is 12 to 72 bytes long.")
        self.assertNotIn("not-an-email", self.find("table.operators").text)
        self.assertEqual(email.get_attribute("value"), "not-an-email")

        email.clear()
        email.send_keys("support@example.com")
        self.field("Name").send_keys("Sam Support")
        Select(self.field("Role")).select_by_visible_text("support")
        self.field("Initial password").send_keys("a long enough password")
        self.submit("form#new-operator button[type=submit]")
        self.assertEqual(self.find_all("[role=alert]"), [])
        self.assertIn("support@example.com", self.find("table.operators").text)
        self.assert_fields_labelled()

    def test_a_marketer_cannot_add_an_operator_even_by_posting_the_form(self):
        self.expected_console.append(r"status of 403")
        self.sign_in(MARKETER)
        # The marketer's own valid form token, on a form the page never offered them.
        self.post_form("/console/users", {"email": "sneaky@example.com", "name": "Sneaky", "role": "owner",
                                          "password": "a long enough password"})
        self.assertEqual(self.heading(), "Not allowed")
        self.sign_out_and_sign_in(OWNER)
        self.open("/console/users")
        self.assertNotIn("sneaky@example.com", self.find("table.operators").text)

    def sign_out_and_sign_in(self, account):
        self.driver.delete_all_cookies()
        self.sign_in(account)
