"""The member portal on a phone: sign-in with a one-time code read from the console's outbox (as
`serve --demo` shows it), the card, and a daily check-in that adds points; a wrong code and the
limit on codes."""

from harness import OWNER, PHONE, DESKTOP, BrowserTestCase

PORTAL = "/m/demo"


class Portal(BrowserTestCase):
    window = PHONE

    def test_a_member_signs_in_with_a_code_and_checks_in(self):
        self.expected_console.append(r"status of 401")
        phone = self.member_phone("DEMO-00061")
        self.driver.delete_all_cookies()
        # Written as people write it: spaces and dashes.
        self.ask_for_code(phone[:3] + " " + phone[3:6] + "-" + phone[6:])
        self.assertIn("a code is on its way", self.find("[role=status]").text)
        self.assert_page_fits()
        self.assert_fields_labelled()

        # A wrong code first.
        self.field("Code").send_keys("000000")
        self.submit("form#portal-code button[type=submit]")
        wrong = self.find("[role=alert]").text
        self.assertTrue("not right" in wrong or "No code" in wrong, wrong)

        # The code, read where --demo shows the outbox.
        self.sign_in(OWNER)
        code = self.code_from_outbox(phone)
        self.driver.delete_all_cookies()
        self.enter_code(phone, code)

        self.wait_for(".member-card")
        self.assertIn("DEMO-00061", self.find(".member-card").text)
        self.assert_page_fits()
        pending_before = self.pending()
        self.submit("form#check-in button[type=submit]")
        self.assertIn("Checked in: +10 points", self.find("[role=status]").text)
        self.assertEqual(self.pending(), pending_before + 10)
        # The answer is a page of its own: reloading it checks in no second time.
        self.driver.refresh()
        self.wait_for(".member-card")
        self.assertEqual(self.pending(), pending_before + 10)
        self.assertIn("Checked in today", self.find("main").text)
        self.assertEqual(self.find_all("form#check-in"), [])
        self.assertIn("+10", self.find(".portal-history").text)
        self.assert_keyboard_reaches("form#sign-out button")

    def pending(self):
        text = next(line for line in self.find("main").text.splitlines() if line.startswith("Pending:"))
        return int(text.split(":")[1].replace(",", ""))

    def test_codes_are_limited(self):
        self.expected_console.append(r"status of 429")
        self.ask_for_code("limit-test@example.com")
        self.assertIn("a code is on its way", self.find("[role=status]").text)
        # Nobody has this address, so nothing was sent; a member's address is limited the same
        # way, checked with the clock in hand in PortalEngineTests.
        phone = self.member_phone("DEMO-00062")
        self.driver.delete_all_cookies()
        self.ask_for_code(phone)
        self.ask_for_code(phone)
        self.assertIn("Too many codes", self.find("[role=alert]").text)


class PortalOnADesktop(BrowserTestCase):
    window = DESKTOP

    def test_the_portal_sign_in_fits_a_desktop(self):
        self.open(PORTAL)
        self.assert_page_fits()
        self.assert_fields_labelled()
        self.assert_keyboard_reaches("form#portal-contact button[type=submit]")
