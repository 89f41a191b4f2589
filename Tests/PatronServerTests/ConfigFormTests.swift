import Foundation
import PatronCore
@testable import PatronServer
import Testing

/// The console's configuration forms: what a posted section does to the document.
@Suite("Configuration forms")
struct ConfigFormTests {
    static let document = try! JSONValue(parsing: Data("""
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "points":{"pending_days":14,"refund":"within_balance","b2b":{"earn_to":"buyer"}},
         "tiers":{"metric":"growth","levels":[{"code":"silver","name":"银卡","threshold":0,"description":"base"},
                                              {"code":"gold","name":"金卡","threshold":5000,"retain":4000}]},
         "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"}]}
        """.utf8))

    @Test("sets the keys it shows, removes emptied ones, and keeps every key it does not show")
    func object() throws {
        let section = try #require(ConfigForm.section("points"))
        let changed = ConfigForm.apply(["/points/pending_days": "7", "/points/refund": "", "/points/expiry/policy": "never",
                                        "/points/allow_transfers": "on"], to: Self.document, section: section)
        #expect(changed["points"] == (try JSONValue(parsing: Data("""
            {"pending_days":7,"expiry":{"policy":"never"},"allow_transfers":true,"b2b":{"earn_to":"buyer"}}
            """.utf8))))
        #expect(changed["tiers"] == Self.document["tiers"])
        // Text where a number goes stays text, for the validator to point at.
        let typo = ConfigForm.apply(["/points/pending_days": "7 days"], to: Self.document, section: section)
        #expect(typo["points"]?["pending_days"] == .string("7 days"))
    }

    @Test("edits rows in place, drops the ones marked for removal, and adds the blank row only when typed in")
    func rows() throws {
        let section = try #require(ConfigForm.section("tiers"))
        var form = ["/tiers/metric": "growth"]
        for (index, level) in (Self.document["tiers"]?["levels"]?.arrayValue ?? []).enumerated() {
            for key in ["code", "name", "threshold", "retain"] {
                form["/tiers/levels/\(index)/\(key)"] = level[key].map { ConfigForm.text(of: $0, kind: .text) } ?? ""
            }
        }
        form["/tiers/levels/1/threshold"] = "6000"
        let edited = ConfigForm.apply(form, to: Self.document, section: section)
        let levels = try #require(edited["tiers"]?["levels"]?.arrayValue)
        #expect(levels.count == 2, "the untouched blank row adds nothing")
        #expect(levels[1]["threshold"] == .int(6000))
        #expect(levels[0]["description"] == .string("base"), "a key the form does not show is kept")

        form["_remove:/tiers/levels/1"] = "on"
        form["/tiers/levels/2/code"] = "platinum"
        form["/tiers/levels/2/threshold"] = "20000"
        form["/tiers/levels/2/invitation_only"] = "on"
        let replaced = ConfigForm.apply(form, to: Self.document, section: section)
        #expect(replaced["tiers"]?["levels"]?.arrayValue?.map { $0["code"] } == [.string("silver"), .string("platinum")])
        #expect(replaced["tiers"]?["levels"]?.arrayValue?[1]["invitation_only"] == .bool(true))
    }

    @Test("a flag whose default is on is written only when turned off")
    func flags() throws {
        let section = try #require(ConfigForm.section("earning_rules"))
        let form = ["/earning_rules/0/code": "base", "/earning_rules/0/on": "purchase",
                    "/earning_rules/0/award": "event.amount / 100"]
        let off = ConfigForm.apply(form, to: Self.document, section: section)
        #expect(off["earning_rules"]?.arrayValue?[0]["active"] == .bool(false))
        let on = ConfigForm.apply(form.merging(["/earning_rules/0/active": "on"]) { $1 }, to: Self.document, section: section)
        #expect(on == Self.document)
    }
}
