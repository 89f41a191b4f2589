"""Every page of the console and the portal, at a phone's width and a desktop's: nothing wider
than the window, every field labelled, every control reachable with the keyboard."""

from harness import DESKTOP, OWNER, PHONE, BrowserTestCase

PROGRAM = "/console/programs/demo"


class EveryPage(BrowserTestCase):
    def console_pages(self):
        self.open(PROGRAM + "/members?q=DEMO-00070")
        member = self.find("table.members a").get_attribute("href").split("/console", 1)[1]
        return [
            "/console", "/console/users", "/console/keys", "/console/outbox", PROGRAM, PROGRAM + "/members",
            PROGRAM + "/members?q=%E7%8E%8B", "/console" + member, "/console" + member + "/erase",
            PROGRAM + "/config", PROGRAM + "/config/json", PROGRAM + "/config/versions",
            PROGRAM + "/config/diff?from=1&to=2", PROGRAM + "/simulations", "/console/nothing-here",
        ]

    member = None

    def check_every_page(self):
        self.expected_console.append(r"status of 404")
        self.open("/console/sign-in")
        self.check()
        self.sign_in(OWNER)
        for path in self.console_pages():
            self.open(path)
            self.check()
        self.driver.delete_all_cookies()
        for path in ["/m/demo", "/m/demo/code?to=%2B8613800000000&via=sms"]:
            self.open(path)
            self.check()
        self.sign_in_to_portal(self.member)
        self.check()

    def check(self):
        with self.subTest(page=self.path()):
            self.assert_page_fits()
            self.assert_fields_labelled()
            self.assert_every_control_reachable()


class EveryPageOnAPhone(EveryPage):
    window = PHONE
    member = "DEMO-00071"

    def test_every_page_at_375_px(self):
        self.check_every_page()


class EveryPageOnADesktop(EveryPage):
    window = DESKTOP
    member = "DEMO-00072"

    def test_every_page_at_1440_px(self):
        self.check_every_page()
