"""The back-test page: a candidate made by editing the configuration in force, replayed over the
stored history or an uploaded CSV, with the levels side by side and the migration matrix as a
heat map."""

import os
import tempfile

from harness import DESKTOP, OWNER, PHONE, BrowserTestCase

BACKTEST = "/console/programs/demo/simulations"


class Backtest(BrowserTestCase):
    def matrix(self, table_id):
        """The heat map as {row level: [counts]}, with its column levels."""
        table = self.find(f"table#{table_id}")
        columns = [cell.text for cell in table.find_elements("css selector", "thead tr:last-child th")][1:]
        rows = {}
        for row in table.find_elements("css selector", "tbody tr"):
            rows[row.find_element("css selector", "th").text] = [
                int(cell.text) for cell in row.find_elements("css selector", "td")]
        return columns, rows

    def test_a_lower_gold_threshold_replayed_over_the_stored_history(self):
        self.sign_in(OWNER)
        self.open("/console/programs/demo")
        self.find("nav.program a[href$='/simulations']").click()
        self.wait_for("form#backtest")
        candidate = self.field("Candidate configuration")
        self.assertIn('"threshold": 5000', candidate.get_attribute("value"))
        # Edit the configuration in force: gold from 5,000 growth down to 3,000.
        self.driver.execute_script("""
            const area = arguments[0];
            area.value = area.value.replace('"threshold": 5000', '"threshold": 3000').replace('"retain": 4000', '"retain": 2500');
        """, candidate)
        self.submit("form#backtest button[type=submit]")
        self.assertEqual(self.find_all("[role=alert]"), [])

        columns, rows = self.matrix("migration")
        self.assertEqual(columns, ["银卡", "金卡", "白金卡"])
        members = int(self.find("dl.kpis div:first-child dd").text.replace(",", ""))
        self.assertEqual(sum(sum(counts) for counts in rows.values()), members)
        # The comparison with the configuration in force: nobody goes down, some go up to gold.
        columns, rows = self.matrix("comparison")
        self.assertEqual(rows["金卡"][0], 0)
        self.assertGreater(rows["银卡"][1], 0)
        shaded = self.find_all("table#comparison td.heat-5")
        self.assertEqual(len(shaded), 1, "the largest cell is the darkest")
        self.assertEqual(len(self.find_all("#chart-backtest-levels rect")), 6)

    def test_a_refused_candidate_says_why_beside_it(self):
        self.expected_console.append(r"status of 422")
        self.sign_in(OWNER)
        self.open(BACKTEST)
        candidate = self.field("Candidate configuration")
        self.driver.execute_script("""
            arguments[0].value = arguments[0].value.replace('"threshold": 5000', '"threshold": 3000');
        """, candidate)
        self.submit("form#backtest button[type=submit]")
        candidate = self.field("Candidate configuration")
        self.assertEqual(candidate.get_attribute("aria-invalid"), "true")
        self.assertIn("/tiers/levels/1/retain", self.find("#backtest-config-fault").text)
        self.assertEqual(self.find_all("#backtest-report"), [])

    def test_an_uploaded_history(self):
        self.sign_in(OWNER)
        self.open(BACKTEST)
        rows = ["member,occurred_at,type,amount,order_id"]
        for member in range(1, 6):
            for order in range(member * 3):
                rows.append(f"m{member},2026-0{1 + order % 9}-15T12:00:00+08:00,purchase,{50_000 + member * 10_000},o{member}-{order}")
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as file:
            file.write("\n".join(rows) + "\n")
        try:
            self.field("An uploaded CSV file").click()
            self.field("CSV file").send_keys(file.name)
            self.driver.execute_script("arguments[0].value = '2026-01-01'", self.field("From"))
            self.driver.execute_script("arguments[0].value = '2026-11-01'", self.field("To"))
            self.submit("form#backtest button[type=submit]")
        finally:
            os.unlink(file.name)
        self.assertEqual(self.find_all("[role=alert]"), [])
        self.assertEqual(self.find("dl.kpis div:first-child dd").text, "5")
        _, matrix = self.matrix("migration")
        self.assertEqual(sum(sum(counts) for counts in matrix.values()), 5)


class BacktestWidths(BrowserTestCase):
    window = PHONE

    def test_the_backtest_fits_a_phone(self):
        self.sign_in(OWNER)
        self.open(BACKTEST)
        self.assert_page_fits()
        self.assert_fields_labelled()
        self.submit("form#backtest button[type=submit]")
        self.wait_for("table#migration")
        self.assert_page_fits()
        self.assert_keyboard_reaches("form#backtest button[type=submit]")


class BacktestOnADesktop(BrowserTestCase):
    window = DESKTOP

    def test_the_backtest_fits_a_desktop(self):
        self.sign_in(OWNER)
        self.open(BACKTEST)
        self.submit("form#backtest button[type=submit]")
        self.wait_for("table#comparison")
        self.assert_page_fits()
