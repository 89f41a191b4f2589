"""The program's configuration in the console: a form refused with the validator's message beside
the field at fault, a valid change saved as a new version, the diff of two versions, a rollback,
and the whole document as JSON. Each test leaves the demo configuration as it found it."""

import re

from harness import DESKTOP, OWNER, PHONE, BrowserTestCase

CONFIG = "/console/programs/demo/config"
GOLD_THRESHOLD = "[name='/tiers/levels/1/threshold']"


class Configuration(BrowserTestCase):
    def version(self):
        return int(re.search(r"Version (\d+)", self.find("p.lead").text).group(1))

    def save_levels(self):
        self.submit("#section-tiers button[type=submit]")

    def test_a_refused_edit_then_a_valid_one_then_a_rollback(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.open(CONFIG)
        start = self.version()
        threshold = self.find(GOLD_THRESHOLD)
        self.assertEqual(threshold.get_attribute("value"), "5000")

        # Refused: the validator's message stands beside the field, tied to it, with what was typed.
        threshold.clear()
        threshold.send_keys("5k")
        self.save_levels()
        self.assertIn("Not saved", self.find("[role=alert]").text)
        threshold = self.find(GOLD_THRESHOLD)
        self.assertEqual(threshold.get_attribute("value"), "5k")
        self.assertEqual(threshold.get_attribute("aria-invalid"), "true")
        fault = self.find("#" + threshold.get_attribute("aria-describedby"))
        self.assertIn("Expected an integer", fault.text)
        self.assertEqual(self.version(), start, "a refused edit made a version")

        # A valid one: a new version.
        threshold.clear()
        threshold.send_keys("6000")
        self.save_levels()
        self.assertIn(f"Saved as version {start + 1}", self.find("[role=status]").text)
        self.assertEqual(self.find(GOLD_THRESHOLD).get_attribute("value"), "6000")
        self.assertEqual(self.version(), start + 1)

        # The diff of the two versions shows the change and nothing else.
        self.open(CONFIG + f"/diff?from={start}&to={start + 1}")
        removed = [line.text for line in self.find_all("pre.diff .removed")]
        added = [line.text for line in self.find_all("pre.diff .added")]
        self.assertEqual(len(removed), 1, removed)
        self.assertEqual(len(added), 1, added)
        self.assertIn('"threshold": 5000', removed[0])
        self.assertIn('"threshold": 6000', added[0])

        # Rolled back: the old document in force again, as a new version.
        self.open(CONFIG + "/versions")
        self.submit(f"button[aria-label='Roll back to version {start}']")
        self.assertIn(f"Version {start} is back in force", self.find("[role=status]").text)
        self.open(CONFIG)
        self.assertEqual(self.find(GOLD_THRESHOLD).get_attribute("value"), "5000")
        self.assertEqual(self.version(), start + 2)

    def test_versions_are_compared_from_the_form(self):
        self.sign_in(OWNER)
        self.open(CONFIG + "/versions")
        rows = self.find_all("table.versions tbody tr")
        self.assertGreaterEqual(len(rows), 3)
        self.assertIn("in force", rows[0].text)
        self.submit("form.compare button[type=submit]")
        self.assertRegex(self.heading(), r"^Version \d+ to version \d+$")
        self.assert_fields_labelled()

    def test_the_whole_document_as_json(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.open(CONFIG + "/json")
        document = self.field("Configuration document")
        original = document.get_attribute("value")
        self.assertIn('"earning_rules"', original)

        document.clear()
        document.send_keys('{"currency": "CNY"')
        self.submit("form#config-json button[type=submit]")
        self.assertIn("not valid JSON", self.find("#config-document-faults").text)

        document = self.field("Configuration document")
        document.clear()
        document.send_keys(original.replace('"pending_days": 14', '"pending_days": 400'))
        self.submit("form#config-json button[type=submit]")
        self.assertIn("/points/pending_days", self.find("#config-document-faults").text)
        self.assertEqual(self.field("Configuration document").get_attribute("aria-invalid"), "true")


class ConfigurationWidths(BrowserTestCase):
    window = PHONE

    def test_the_configuration_pages_fit_a_phone(self):
        self.sign_in(OWNER)
        for path in [CONFIG, CONFIG + "/json", CONFIG + "/versions"]:
            self.open(path)
            self.assert_page_fits()
            self.assert_fields_labelled()
        self.open(CONFIG)
        self.assert_keyboard_reaches("#section-points button[type=submit]")


class ConfigurationOnADesktop(BrowserTestCase):
    window = DESKTOP

    def test_the_configuration_fits_a_desktop(self):
        self.sign_in(OWNER)
        self.open(CONFIG)
        self.assert_page_fits()
        self.assert_fields_labelled()
