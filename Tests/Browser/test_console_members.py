"""Operators find members, read their page, adjust their points with a reason, and erase their
personal data on request — each by role, enforced by the server.

The tests share one demo server, so each works on its own demo member (DEMO-000NN)."""

from harness import DESKTOP, MARKETER, OWNER, PHONE, BrowserTestCase

MEMBERS = "/console/programs/demo/members"


class MemberPages(BrowserTestCase):
    def search(self, text):
        self.open(MEMBERS)
        box = self.field("Search members")
        box.send_keys(text)
        self.submit("form.search button[type=submit]")

    def open_member(self, external_id):
        self.search(external_id)
        self.submit(f"table.members a")
        self.wait_for("section#ledger")

    def ledger_rows(self):
        return [row.text for row in self.find_all("table.ledger tbody tr")]

    def test_members_are_found_by_name_phone_and_external_id(self):
        self.sign_in(OWNER)
        self.find("table.programs a[href='/console/programs/demo']").click()
        self.wait_for("nav.program")
        self.find("nav.program a[href='/console/programs/demo/members']").click()
        self.wait_for("form.search")
        self.assertEqual(self.heading(), "Members")
        # Part of a name: every match, and nothing else.
        self.search("王")
        names = [row.find_elements("css selector", "td")[1].text for row in self.find_all("table.members tbody tr")]
        self.assertTrue(names, "no member named 王…")
        self.assertTrue(all("王" in name for name in names), names)
        self.assertIn(f"{len(names)} members match", self.find("[role=status]").text)
        # A phone number, written the way people write it, finds its member.
        self.open_member("DEMO-00012")
        phone = self.profile()["Phone"]
        self.search(phone[:3] + " " + phone[3:7] + "-" + phone[7:])
        self.assertIn("DEMO-00012", self.find("table.members").text)
        self.search("nobody-by-this-name")
        self.assertIn("No member matches", self.find("[role=status]").text)
        self.assertEqual(self.find_all("table.members"), [])

    def profile(self):
        facts = {}
        for row in self.find_all("section[aria-labelledby=profile-heading] dl.facts div"):
            facts[row.find_element("css selector", "dt").text] = row.find_element("css selector", "dd").text
        return facts

    def test_the_member_page_shows_profile_level_points_plans_and_benefits(self):
        self.sign_in(OWNER)
        self.open_member("DEMO-00021")
        self.assertEqual(self.profile()["External id"], "DEMO-00021")
        for heading in ["Profile", "Level", "Points", "Paid plans", "Benefits", "Points history"]:
            self.assertTrue([h for h in self.find_all("h2") if h.text == heading], f"no {heading} section")
        self.assertIn("Consents", self.find("section[aria-labelledby=profile-heading]").text)
        level = self.find("section[aria-labelledby=level-heading]")
        progress = level.find_element("css selector", "progress")
        # The bar is labelled with what the next level takes.
        self.assertRegex(self.find("label[for=level-progress]").text, r"more to ")
        self.assertLessEqual(int(progress.get_attribute("value")), int(progress.get_attribute("max")))
        self.assertIn("Available", self.find("dl.figures").text)
        self.assert_fields_labelled()

    def test_an_adjustment_needs_a_reason_then_shows_in_the_ledger(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.open_member("DEMO-00007")
        before = self.ledger_rows()
        self.field("Points").send_keys("250")
        self.submit("form#adjust button[type=submit]")
        reason = self.field("Reason")
        self.assertEqual(reason.get_attribute("aria-invalid"), "true")
        self.assertIn("Say why", self.find("#" + reason.get_attribute("aria-describedby")).text)
        self.assertEqual(self.field("Points").get_attribute("value"), "250")
        self.assertEqual(self.ledger_rows(), before, "a refused adjustment changed the ledger")

        key = self.find("form#adjust input[name=request_key]").get_attribute("value")
        reason.send_keys("Parcel arrived late")
        self.submit("form#adjust button[type=submit]")
        self.assertIn("adjustment is recorded", self.find("[role=status]").text)
        newest = self.ledger_rows()[0]
        self.assertIn("+250", newest)
        self.assertIn("Parcel arrived late", newest)
        self.assertIn("owner@example.com", newest)
        self.assertEqual(len(self.ledger_rows()), min(len(before) + 1, 20))
        # The same form sent again (a double click, a resubmit) records nothing more.
        self.post_form(self.path().split("?")[0] + "/adjustments",
                       {"request_key": key, "points": "250", "reason": "Parcel arrived late"})
        self.assertEqual(sum("Parcel arrived late" in row for row in self.ledger_rows()), 1)

    def test_erasure_asks_for_the_external_id_first(self):
        self.expected_console.extend([r"status of 422", r"status of 410"])
        self.sign_in(OWNER)
        self.open_member("DEMO-00033")
        member_path = self.path()
        self.find("a.danger-link").click()
        self.wait_for("form#erase")
        self.field("Type DEMO-00033 to confirm").send_keys("DEMO-00034")
        self.submit("form#erase button[type=submit]")
        self.assertIn("nothing was erased", self.find(".fault").text)
        self.open(member_path)
        self.assertEqual(self.profile()["External id"], "DEMO-00033")

        self.find("a.danger-link").click()
        self.wait_for("form#erase")
        self.field("Type DEMO-00033 to confirm").send_keys("DEMO-00033")
        self.submit("form#erase button[type=submit]")
        self.assertEqual(self.heading(), "Personal data erased")
        self.open(member_path)
        self.assertEqual(self.heading(), "Erased")
        self.search("DEMO-00033")
        self.assertIn("No member matches", self.find("[role=status]").text)

    def test_a_marketer_reads_members_but_cannot_adjust_even_by_posting(self):
        self.expected_console.append(r"status of 403")
        self.sign_in(MARKETER)
        self.open_member("DEMO-00044")
        self.assertEqual(self.find_all("form#adjust"), [])
        self.assertEqual(self.find_all("a.danger-link"), [])
        before = self.ledger_rows()
        self.post_form(self.path() + "/adjustments", {"points": "100000", "reason": "sneaky"})
        self.assertEqual(self.heading(), "Not allowed")
        self.open_member("DEMO-00044")
        self.assertEqual(self.ledger_rows(), before)


class MemberPagesOnAPhone(BrowserTestCase):
    window = PHONE

    def test_search_and_the_member_page_fit_a_phone(self):
        self.sign_in(OWNER)
        self.open(MEMBERS)
        self.assert_page_fits()
        self.assert_keyboard_reaches("form.search button[type=submit]")
        self.open(MEMBERS + "?q=DEMO-00050")
        self.find("table.members a").click()
        self.wait_for("section#ledger")
        self.assert_page_fits()
        self.assert_fields_labelled()
        self.assert_keyboard_reaches("form#adjust button[type=submit]")


class MemberPagesOnADesktop(BrowserTestCase):
    window = DESKTOP

    def test_the_member_page_fits_a_desktop(self):
        self.sign_in(OWNER)
        self.open(MEMBERS + "?q=DEMO-00051")
        self.find("table.members a").click()
        self.wait_for("section#ledger")
        self.assert_page_fits()
        self.assert_keyboard_reaches("a.danger-link")
