"""A program's dashboard: figures and charts drawn on the server, so they read the same with
JavaScript off, at a phone's width and a desktop's."""

from harness import DESKTOP, OWNER, PHONE, BrowserTestCase

DASHBOARD = "/console/programs/demo"


class Dashboard(BrowserTestCase):
    def figures(self):
        return {row.find_element("css selector", "dt").text: row.find_element("css selector", "dd").text
                for row in self.find_all("dl.kpis div")}

    def test_the_dashboard_shows_the_demo_history_in_figures_and_charts(self):
        self.sign_in(OWNER)
        self.find("table.programs a[href='/console/programs/demo']").click()
        self.wait_for("svg.chart")
        self.assertEqual(self.heading(), "Dashboard")
        figures = self.figures()
        self.assertGreater(int(figures["Members"].replace(",", "")), 200)
        self.assertRegex(figures["Active, 30 days"], r"^\d+%")
        self.assertGreater(int(figures["Points owed"].split()[0].replace(",", "")), 0)
        titles = [chart.find_element("css selector", "title").get_attribute("textContent")
                  for chart in self.find_all("svg.chart")]
        self.assertEqual(titles, ["New members by month", "Members by level",
                                  "Points issued, redeemed and expired by month", "Points owed at each month's end"])
        # A bar per month, and the history made them: not every month is empty.
        bars = self.find_all("#chart-new-members rect")
        self.assertEqual(len(bars), 12)
        self.assertTrue(any(float(bar.get_attribute("height")) > 0 for bar in bars))
        self.assertEqual(len(self.find_all("#chart-outstanding circle")), 12)
        # The levels of the demo program, with their members.
        self.assertIn("金卡", self.find("#chart-levels").get_attribute("textContent"))
        # The figures behind the charts, as a table.
        self.find("details summary").click()
        self.assertEqual(len(self.find_all("table.months tbody tr")), 12)

    def test_the_charts_need_no_javascript(self):
        self.sign_in(OWNER)
        self.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        self.open(DASHBOARD)
        self.assertEqual(len(self.find_all("svg.chart")), 4)
        self.assertEqual(len(self.find_all("#chart-points rect")), 36)


class DashboardOnAPhone(BrowserTestCase):
    window = PHONE

    def test_the_dashboard_fits_a_phone(self):
        self.sign_in(OWNER)
        self.open(DASHBOARD)
        self.assert_page_fits()
        self.assert_keyboard_reaches("details summary")


class DashboardOnADesktop(BrowserTestCase):
    window = DESKTOP

    def test_the_dashboard_fits_a_desktop(self):
        self.sign_in(OWNER)
        self.open(DASHBOARD)
        self.assert_page_fits()
        self.assert_keyboard_reaches("nav.program a[href='/console/programs/demo/members']")
