import Foundation
import GRDB
import GRDBSQLite
import PatronEngine
import PatronCore
@testable import PatronSQLite
import PatronTestSupport
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("meets the store contract", arguments: StoreContract.cases)
    func contract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.sqlite.withStore { store in try await contractCase.run(store) }
    }

    @Test("meets the ledger contract", arguments: LedgerContract.cases)
    func ledgerContract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.sqlite.withStore { store in try await contractCase.run(store) }
    }

    /// Runs `body` on a store in a fresh file, migrated up to (and including) `migration`.
    static func withStore(migratedUpTo migration: String, logLengths: WALCheckpointer.Lengths = .standard,
                          _ body: (SQLiteStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("patron-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("patron.sqlite").path, logLengths: logLengths)
        try SQLiteMigrations.migrator.migrate(store.pool, upTo: migration)
        try await body(store)
    }

    /// Program `p1` and an active member for each id, as every schema since the first holds them.
    static func programWithMembers(_ ids: String...) -> String {
        "INSERT INTO programs VALUES ('p1', 'shop', 'Shop', 'CNY', 'Asia/Shanghai', 1, 0);\n" + ids.enumerated().map { index, id in
            """
            INSERT INTO members (id, program_id, external_id, status, channel, attributes, consents, enrolled_at, updated_at,
                revision) VALUES ('\(id)', 'p1', 'C-\(index + 1)', 'active', 'app', '{}', '{}', 0, 0, 0);

            """
        }.joined()
    }

    @Test("the event-review migration rebuilds the events table and keeps every event and what refers to it")
    func eventReviewMigration() async throws {
        try await Self.withStore(migratedUpTo: "2026-11-23-ledger") { store in
            // Given a database at the ledger's first schema, with a posted event, one held for review,
            // and a lot and a transfer that refer to the posted one
            try await store.pool.write { db in
                try db.execute(sql: Self.programWithMembers("m1") + """
                    INSERT INTO ledger_members VALUES ('m1', 'p1', 1);
                    INSERT INTO ledger_events VALUES ('e1', 'p1', 'm1', 'evt-1', 'purchase', 5, 6, 1000, 'o-1', 'f1', 'posted', '{}');
                    INSERT INTO ledger_events VALUES ('e2', 'p1', 'm1', 'evt-2', 'purchase', 7, 8, 2000, 'o-2', 'f2', 'review', '{}');
                    INSERT INTO ledger_lots VALUES ('l1', 'p1', 'm1', 'e1', 'o-1', 'base', 10, 10, 'available', 5, 5, NULL);
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, event_id,
                        lot_id, actor, occurred_at, posted_at)
                        VALUES ('t1', 'p1', 'm1', 'points', 'system:issued', 'member:available', 10, 'earn', 'base', 'e1', 'l1',
                            'k', 5, 6);
                    """)
            }

            // When the rest of the migrations run (foreign keys are checked after each)
            try await store.migrate()

            // Then the events are all there, held bodies are empty, and `rejected` is a status
            let rows = try store.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT id, status, body FROM ledger_events ORDER BY id")
            }
            #expect(rows.map { $0["id"] as String } == ["e1", "e2"])
            #expect(rows.map { $0["status"] as String } == ["posted", "review"])
            #expect(rows.allSatisfy { ($0["body"] as String?) == nil })
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE ledger_events SET status = 'rejected' WHERE id = 'e2'")
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "UPDATE ledger_events SET status = 'lost' WHERE id = 'e2'")
                }
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "DELETE FROM ledger_events WHERE id = 'e1'")
                }
            }
            let event = try await store.event(programID: "p1", clientID: "evt-1")
            #expect(event?.id == "e1")
            #expect(event?.orderID == "o-1")
        }
    }

    @Test("the cash-back migration rebuilds the accounts and transfers tables and keeps every row, index and reference")
    func cashbackMigration() async throws {
        try await Self.withStore(migratedUpTo: "2026-11-30-benefit-grants") { store in
            // Given a database before it, with balances, an earning, a redemption allocated to its lot,
            // and a reversal of the redemption
            try await store.pool.write { db in
                try db.execute(sql: Self.programWithMembers("m1") + """
                    INSERT INTO ledger_members VALUES ('m1', 'p1', 1);
                    INSERT INTO ledger_accounts VALUES ('m1', 'points', 0, 10, 0, 0, 10, 4, 0);
                    INSERT INTO ledger_accounts VALUES ('m1', 'growth', 0, 7, 0, 0, 7, 0, 0);
                    INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                        order_id, fingerprint, status, receipt) VALUES ('e1', 'p1', 'm1', 'evt-1', 'purchase', 5, 6, 1000, 'o-1',
                        'f1', 'posted', '{}');
                    INSERT INTO ledger_lots VALUES ('l1', 'p1', 'm1', 'e1', 'o-1', 'base', 10, 10, 'available', 5, 5, NULL);
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, event_id,
                        lot_id, actor, occurred_at, posted_at)
                        VALUES ('t1', 'p1', 'm1', 'points', 'system:issued', 'member:available', 10, 'earn', 'base', 'e1', 'l1',
                            'k', 5, 6);
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, actor,
                        occurred_at, posted_at, request_key)
                        VALUES ('t2', 'p1', 'm1', 'points', 'member:available', 'system:redeemed', 4, 'redeem', 'gift', 'k', 7, 7,
                            'key-1');
                    INSERT INTO ledger_allocations VALUES ('t2', 0, 'l1', 4);
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, reverses,
                        actor, occurred_at, posted_at)
                        VALUES ('t3', 'p1', 'm1', 'points', 'system:redeemed', 'member:available', 4, 'reversal', 'oops', 't2',
                            'k', 8, 8);
                    """)
            }

            // When it runs (foreign keys are checked after each migration)
            try SQLiteMigrations.migrator.migrate(store.pool, upTo: "2026-12-01-cashback")

            // Then every row is there, the references hold, the unique indexes still refuse, and
            // cash-back is a unit
            try await store.pool.write { db in
                #expect(try String.fetchAll(db, sql: "SELECT unit FROM ledger_accounts ORDER BY unit") == ["growth", "points"])
                #expect(try String.fetchAll(db, sql: "SELECT id FROM ledger_transfers ORDER BY id") == ["t1", "t2", "t3"])
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "DELETE FROM ledger_transfers WHERE id = 't2'")
                }
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: """
                        INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, actor,
                            occurred_at, posted_at, request_key)
                            VALUES ('t4', 'p1', 'm1', 'points', 'member:available', 'system:redeemed', 1, 'redeem', 'gift', 'k', 9, 9,
                                'key-1')
                        """)
                }
                try db.execute(sql: "INSERT INTO ledger_accounts VALUES ('m1', 'cashback', 0, 300, 0, 0, 300, 0, 0)")
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "INSERT INTO ledger_accounts VALUES ('m1', 'miles', 0, 1, 0, 0, 1, 0, 0)")
                }
                let indexes = try String.fetchAll(db, sql: """
                    SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_transfers' AND name NOT LIKE 'sqlite_%'
                    ORDER BY name
                    """)
                #expect(indexes == ["ledger_transfers_earned", "ledger_transfers_event", "ledger_transfers_hold",
                                    "ledger_transfers_member", "ledger_transfers_request", "ledger_transfers_reverses"])
            }
            try await store.migrate()
            let history = try await store.ledgerHistory(programID: "p1", memberID: "m1")
            #expect(history.transfers.first { $0.id == "t2" }?.allocations == [LotAllocation(lotID: "l1", amount: 4)])
            #expect(history.accounts[.cashback]?.available == 300)
        }
    }

    @Test("the member-balances migration moves every account into its member's row and keeps the purchase counts")
    func memberBalancesMigration() async throws {
        try await Self.withStore(migratedUpTo: "2026-12-05-plan-reward-sweep") { store in
            // Given a member with points, growth and cash-back accounts and two purchases, and one
            // with a purchase but no account yet
            try await store.pool.write { db in
                try db.execute(sql: Self.programWithMembers("m1", "m2") + """
                    INSERT INTO ledger_members VALUES ('m1', 'p1', 2);
                    INSERT INTO ledger_members VALUES ('m2', 'p1', 1);
                    INSERT INTO ledger_accounts VALUES ('m1', 'points', 1, 2, 3, 4, 5, 6, 7);
                    INSERT INTO ledger_accounts VALUES ('m1', 'growth', 0, 8, 0, 0, 8, 0, 0);
                    INSERT INTO ledger_accounts VALUES ('m1', 'cashback', 0, 9, 1, 0, 10, 0, 0);
                    """)
            }

            // When it runs
            try await store.migrate()

            // Then each balance is in the member's row, a member without accounts has none, the
            // purchase counts are kept, and a negative balance is still refused
            let first = try await store.ledgerSnapshot(LedgerRead(programID: "p1", memberID: "m1"))
            #expect(first.purchases == 2)
            #expect(first.accounts[.points] == MemberAccount(pending: 1, available: 2, held: 3, debt: 4, earned: 5,
                                                            redeemed: 6, expired: 7))
            #expect(first.accounts[.growth] == MemberAccount(available: 8, earned: 8))
            #expect(first.accounts[.cashback] == MemberAccount(available: 9, held: 1, earned: 10))
            let second = try await store.ledgerSnapshot(LedgerRead(programID: "p1", memberID: "m2"))
            #expect(second.purchases == 1)
            #expect(second.accounts.isEmpty)
            try await store.pool.write { db throws -> Void in
                #expect(try Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'ledger_accounts'") == false)
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: "UPDATE ledger_members SET growth_available = -1 WHERE member_id = 'm1'")
                }
            }
        }
    }

    @Test("the member-activity migration numbers the members and logs every event and earning under its member")
    func memberActivityMigration() async throws {
        try await Self.withStore(migratedUpTo: "2026-12-06-member-balances") { store in
            // Given a member with a posted purchase that earned points and growth, a purchase held
            // for review and a redemption; and a member with a check-in but no ledger row
            try await store.pool.write { db in
                func event(_ id: String, _ member: String, _ type: String, at time: Int, amount: Int, _ status: String) -> String {
                    """
                    INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                        fingerprint, status, receipt) VALUES ('\(id)', 'p1', '\(member)', 'c-\(id)', '\(type)', \(time), \(time),
                        \(amount), 'f', '\(status)', '{}');

                    """
                }
                func transfer(_ id: String, _ kind: String, _ unit: String, _ reason: String, amount: Int) -> String {
                    """
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, event_id,
                        actor, occurred_at, posted_at) VALUES ('\(id)', 'p1', 'm1', '\(unit)', 'a', 'b', \(amount), '\(kind)',
                        '\(reason)', 'e1', 'k', 1000, 1000);

                    """
                }
                try db.execute(sql: Self.programWithMembers("m1", "m2") + """
                    INSERT INTO ledger_members (member_id, program_id, purchases, points_available, points_earned)
                        VALUES ('m1', 'p1', 1, 3, 5);

                    """ + event("e1", "m1", "purchase", at: 1_000, amount: 500, "posted")
                    + event("e2", "m1", "purchase", at: 2_000, amount: 700, "review")
                    + event("e3", "m2", "check_in", at: 1_500, amount: 0, "posted")
                    + transfer("t1", "earn", "points", "base", amount: 5) + transfer("t2", "earn", "growth", "growth", amount: 5)
                    + transfer("t3", "redeem", "points", "gift", amount: 2))
            }

            // When it runs
            try await store.migrate()

            // Then each member has a number and a count of their rows, the log answers what the
            // indexes it replaces answered, and the balances are kept
            try await store.pool.read { db in
                let rows = try Row.fetchAll(db, sql: "SELECT member_id, number, activity FROM ledger_members ORDER BY member_id")
                #expect(rows.map { $0["member_id"] as String } == ["m1", "m2"])
                #expect(rows.map { $0["number"] as Int64 } == [1, 2])
                #expect(rows.map { $0["activity"] as Int64 } == [4, 1])
                #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
                #expect(try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM sqlite_master WHERE name IN ('ledger_transfers_earned', 'ledger_events_member_time')
                    """) == 0)
            }
            let epoch = Date(timeIntervalSince1970: 0)
            let day = DateInterval(start: epoch, duration: 86_400)
            let snapshot = try await store.ledgerSnapshot(LedgerRead(
                programID: "p1", memberID: "m1", capRules: [CappedRule("base", day: true, lifetime: true), CappedRule("gift", day: true, lifetime: true)], capDay: day, limitDay: day,
                limitHour: DateInterval(start: epoch, duration: 3)))
            #expect(snapshot.capUsage == ["base": CapUsage(day: 5, lifetime: 5), "gift": CapUsage()])
            #expect(snapshot.pointsEarnedInDay == 5)
            #expect(snapshot.eventsInHour == 2)
            #expect(snapshot.accounts[.points] == MemberAccount(available: 3, earned: 5))
            #expect(try await store.qualifyingValue(programID: "p1", memberID: "m1", metric: .spend,
                                                    from: nil, through: epoch + 3) == 500)
            #expect(try await store.ledgerSnapshot(LedgerRead(
                programID: "p1", memberID: "m2",
                limitHour: DateInterval(start: epoch + 1, duration: 1))).eventsInHour == 1)
            #expect(try await store.storedRecordBreaches(programID: "p1") == [])
        }
    }

    @Test("the checks migration writes every CHECK's list as comparisons that refuse what the list refused, and keeps every row")
    func checksWithoutListsMigration() async throws {
        try await Self.withStore(migratedUpTo: "2026-12-07-member-activity") { store in
            // Given a database with a member, an event and a transfer
            try await store.pool.write { db in
                try db.execute(sql: Self.programWithMembers("m1") + """
                    INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                        fingerprint, status, receipt) VALUES ('e1', 'p1', 'm1', 'c-1', 'purchase', 1, 1, 500, 'f', 'posted', '{}');
                    INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, event_id,
                        actor, occurred_at, posted_at) VALUES ('t1', 'p1', 'm1', 'points', 'a', 'b', 5, 'earn', 'base', 'e1',
                        'k', 1, 1);
                    """)
            }

            // When it runs
            try await store.migrate()

            // Then, on a connection opened after it, no table's definition has an IN list, the rows
            // are all there and the file is sound
            let reopened = try DatabaseQueue(path: store.path)
            try await reopened.writeWithoutTransaction { db in
                for sql in try String.fetchAll(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table'") {
                    #expect(sql.firstMatch(of: /\bIN\s*\(/) == nil, "\(sql)")
                }
                #expect(try Int.fetchOne(db, sql: """
                    SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM ledger_events)
                        + (SELECT count(*) FROM ledger_transfers)
                    """) == 3)
                #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])

                // And each column takes every value its Swift type has and refuses any other
                func takes(_ update: String, _ values: [String?]) throws -> (taken: [String?], refused: [String?]) {
                    var result: (taken: [String?], refused: [String?]) = ([], [])
                    for value in values {
                        do {
                            try db.inSavepoint {
                                try db.execute(sql: update, arguments: [value])
                                return .rollback
                            }
                            result.taken.append(value)
                        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_CHECK {
                            result.refused.append(value)
                        }
                    }
                    return result
                }
                let kinds = TransferKind.allCases.map(\.rawValue)
                #expect(try takes("UPDATE ledger_transfers SET kind = ?", kinds + ["bogus", "Earn"])
                        == (kinds, ["bogus", "Earn"]))
                let units = LedgerUnit.allCases.map(\.rawValue)
                #expect(try takes("UPDATE ledger_transfers SET unit = ?", units + ["bogus"]) == (units, ["bogus"]))
                #expect(try takes("UPDATE ledger_events SET status = ?", ["posted", "review", "rejected", "held"])
                        == (["posted", "review", "rejected"], ["held"]))
                let genders = Gender.allCases.map(\.rawValue)
                #expect(try takes("UPDATE members SET gender = ?", genders + [nil, "bogus"]) == (genders + [nil], ["bogus"]))
                // An integer list: the text is taken as the integer it spells, as the column's type says.
                #expect(try takes("""
                    INSERT INTO consent_events (member_id, purpose, granted, at, source) VALUES ('m1', 'email', ?, 0, 'api')
                    """, ["0", "1", "2", "-1"]) == (["0", "1"], ["2", "-1"]))
            }
        }
    }

    @Test("every ledger unit has its group of balance columns in the member's row")
    func everyUnitHasBalanceColumns() async throws {
        #expect(Set(MemberRow.units) == Set(LedgerUnit.allCases))
        #expect(MemberRow.units.count == LedgerUnit.allCases.count)
        try await Self.withStore(migratedUpTo: "2026-12-06-member-balances") { store in
            let columns = try await store.pool.read { db in try db.columns(in: "ledger_members").map(\.name) }
            #expect(Set(MemberRow.balanceColumns).isSubset(of: Set(columns)))
        }
    }

    /// A ledger fixture of one member on the SQLite `store`, with their purchase of ¥100 (order `o-1`).
    static func memberWithPurchase(on store: any PatronStore) async throws -> (SQLiteStore, LedgerFixture, String) {
        let sqlite = try #require(store as? SQLiteStore)
        let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 0)
        let member = fixture.members[0]
        try await fixture.purchase(member, amount: 10_000, order: "o-1")
        return (sqlite, fixture, member)
    }

    @Test("ledger verify finds a lot and a hold that are in no member's history")
    func verifyFindsUnreachableLotsAndHolds() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a sound ledger: a purchase, all of its points spent, and a hold voided
            let (sqlite, fixture, member) = try await Self.memberWithPurchase(on: store)
            _ = try await fixture.engine.redeem(programCode: "shop", memberID: member,
                                                body: .object(["points": .int(100), "reason": .string("gift")]),
                                                requestKey: nil, by: fixture.owner)
            #expect(try await fixture.audit() == [])

            // When a spent lot and a closed hold appear that no transfer made
            try await sqlite.pool.write { db in
                try db.execute(sql: """
                    INSERT INTO ledger_lots (id, program_id, member_id, source, amount, remaining, state, earned_at,
                        available_at)
                    VALUES ('lot-unmade', ?, ?, 'base', 5, 0, 'available', 0, 0);
                    INSERT INTO ledger_holds (id, program_id, member_id, amount, captured, status, created_at, expires_at,
                        resolved_at)
                    VALUES ('hold-unmade', ?, ?, 5, 0, 'voided', 0, 1, 1);
                    """, arguments: [fixture.program.id, member, fixture.program.id, member])
            }

            // Then verify reports both, although neither changes a balance
            #expect(try await fixture.audit() == [
                "program shop: 1 lots are in no member's history", "program shop: 1 holds are in no member's history",
            ])
        }
    }

    @Test("ledger verify finds member activity that differs from the events and earnings it is made from")
    func verifyFindsDivergentActivity() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a sound ledger: a purchase that earned points and growth, and a check-in
            let (sqlite, fixture, member) = try await Self.memberWithPurchase(on: store)
            try await fixture.post(["type": "check_in", "member": .string(member)])
            #expect(try await fixture.audit() == [])
            func audit(after sql: String) async throws -> [String] {
                try await sqlite.pool.write { db in try db.execute(sql: sql) }
                return try await fixture.audit()
            }
            let extra = "program shop: member activity: 1 rows that no event or earning of the program makes"
            func missing(_ count: Int) -> String {
                "program shop: member activity: \(count) of the program's events and earnings are not in it"
            }
            let miscounted = "program shop: member activity: 1 members' counts differ from their rows"

            // When an earning's amount changes in the log, Then verify finds a row the ledger does
            // not make and misses the one it does
            #expect(try await audit(after: "UPDATE ledger_member_activity SET amount = amount + 1 WHERE code = 'base'")
                    == [extra, missing(1)])
            #expect(try await audit(after: "UPDATE ledger_member_activity SET amount = amount - 1 WHERE code = 'base'") == [])

            // When a row is logged twice, Then verify finds it too many times and the member's count wrong
            #expect(try await audit(after: """
                INSERT INTO ledger_member_activity SELECT member_number, occurred_at, 99, kind, code, unit, amount, status,
                    event_id FROM ledger_member_activity WHERE code = 'growth'
                """) == [extra, missing(1), miscounted])
            #expect(try await audit(after: "DELETE FROM ledger_member_activity WHERE seq = 99") == [])

            // When a row is logged under a number that is no member's, Then verify finds it,
            // though it belongs to no program
            #expect(try await audit(after: """
                INSERT INTO ledger_member_activity (member_number, occurred_at, seq, kind, code, amount)
                VALUES ((SELECT max(number) + 1 FROM ledger_members), 0, 1, 'earn', 'stray', 0)
                """) == ["store: member activity: 1 rows under a number that is no member's"])
            #expect(try await audit(after: "DELETE FROM ledger_member_activity WHERE code = 'stray'") == [])

            // When the check-in and what it earned go missing from the log, Then verify misses both
            // and the count is wrong
            #expect(try await audit(after: "DELETE FROM ledger_member_activity WHERE code = 'check_in'")
                    == [missing(2), miscounted])
        }
    }

    @Test("ledger verify finds an event's receipt that is not JSON, which no CHECK tests as it is written")
    func verifyFindsMalformedReceipt() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a sound ledger with a purchase
            let (sqlite, fixture, _) = try await Self.memberWithPurchase(on: store)
            #expect(try await fixture.audit() == [])

            // When its receipt is cut short
            try await sqlite.pool.write { db in try db.execute(sql: "UPDATE ledger_events SET receipt = substr(receipt, 2)") }

            // Then verify reports it
            #expect(try await fixture.audit() == ["program shop: events: 1 receipts are not JSON"])
        }
    }

    @Test("a member read directly refuses a NULL where a value is required, rather than read it as 0 or empty")
    func directMemberReadRefusesNull() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a member with a level
            let (sqlite, fixture, member) = try await Self.memberWithPurchase(on: store)
            try await sqlite.pool.write { db in
                try db.execute(sql: "UPDATE members SET tier = 'gold', tier_since = 0 WHERE id = ?", arguments: [member])
            }
            #expect(try await store.member(programID: fixture.program.id, id: member)?.tier?.level == "gold")

            // When the level's start is lost, Then reading the member fails, naming the column
            try await sqlite.pool.write { db in
                try db.execute(sql: "UPDATE members SET tier_since = NULL WHERE id = ?", arguments: [member])
            }
            let error = try await #require(throws: DatabaseError.self) {
                try await store.member(programID: fixture.program.id, id: member)
            }
            #expect(error.resultCode == .SQLITE_CORRUPT)
            #expect(error.message == "column tier_since is NULL")
            // and so does the member's standing for an entitlement check, read through GRDB's rows
            await #expect(throws: RowDecodingError.self) {
                try await store.entitlementState(programID: fixture.program.id, memberID: member, periods: [:])
            }

            // And NULL is still read as nothing where nothing is allowed, and empty text as empty
            try await sqlite.pool.read { db in
                try db.direct("SELECT NULL, '', 0") { row in
                    #expect(row.optionalString(0) == nil && row.optionalInt64(0) == nil)
                    let text = try row.string(1), number = try row.int64(2)
                    #expect(text == "" && row.optionalString(1) == "")
                    #expect(number == 0)
                    #expect(throws: DatabaseError.self) { try row.int64(0) }
                }
            }
        }
    }

    @Test("member activity out of step with the ledger fails a write, and is not taken for a duplicate")
    func activityOutOfStepIsNoDuplicate() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a member's purchase, and a stray row in their activity where their next one goes
            let (sqlite, fixture, member) = try await Self.memberWithPurchase(on: store)
            try await sqlite.pool.write { db in
                try db.execute(sql: """
                    INSERT INTO ledger_member_activity (member_number, occurred_at, seq, kind, code, amount)
                    SELECT number, ?, activity + 1, 'earn', 'stray', 0 FROM ledger_members WHERE member_id = ?
                    """, arguments: [Timestamp.milliseconds(fixture.clock.now), member])
            }

            // When the member's next event is posted at the same moment
            var thrown: (any Error)?
            do { try await fixture.purchase(member, amount: 5_000, order: "o-2") } catch { thrown = error }

            // Then it fails as an error of the store, posts nothing, and verify reports the stray row
            // (as a duplicate, it was answered as a concurrent retry of the event)
            let error = try #require(thrown)
            #expect(error is DatabaseError)
            #expect(try await fixture.transferCount() == 2)
            #expect(try await fixture.audit().contains { $0.contains("member activity") })
        }
    }

    @Test("opens the file in WAL mode with synchronous=FULL and foreign keys on")
    func durabilitySettings() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            let sqlite = try #require(store as? SQLiteStore)
            let (journal, synchronous, foreignKeys) = try await sqlite.pool.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                 try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
            }
            #expect(journal == "wal")
            #expect(synchronous == 2)  // FULL
            #expect(foreignKeys == 1)
        }
    }

    @Test("keeps no count of SQLite's memory in use, which took a process-wide lock at every allocation")
    func noMemoryCount() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a store that has written and read
            let (sqlite, _, member) = try await Self.memberWithPurchase(on: store)
            _ = try await sqlite.ledgerSnapshot(LedgerRead(programID: "shop", memberID: member, lots: true))

            // Then SQLite counted none of the memory it allocated for that
            #expect(sqlite3_memory_used() == 0)
            #expect(sqlite3_memory_highwater(0) == 0)
        }
    }

    @Test("syncs the log at every commit of the writer, so that an answered write is on disk")
    func writerSyncsEveryCommit() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            let sqlite = try #require(store as? SQLiteStore)
            // Given the store's writer and one of its readers
            let writer = try await sqlite.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            let journal = try await sqlite.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }

            // Then the log is write-ahead and the writer's level is FULL (2): NORMAL (1) syncs the
            // log only at checkpoints, and a commit acknowledged before then can be lost with the power
            #expect(journal == "wal")
            #expect(writer == 2)
        }
    }

    /// Creates the table the log-buffer tests write: a number and a page of bytes a row.
    static func createScratch(_ sqlite: SQLiteStore) async throws {
        try await sqlite.pool.write { db in
            try db.execute(sql: "CREATE TABLE scratch (n INTEGER NOT NULL, page BLOB NOT NULL)")
        }
    }

    /// Inserts a row of 4,000 bytes (`page`: zeros, or random bytes) for each of `numbers`.
    static func insertScratch(_ numbers: Range<Int>, page: String = "zeroblob(4000)", _ db: Database) throws {
        for n in numbers { try db.execute(sql: "INSERT INTO scratch VALUES (?, \(page))", arguments: [n]) }
    }

    /// Writes 600 rows in a transaction with a cache of 64 pages, so that SQLite spills pages into
    /// the log before the end, and rolls the transaction back.
    static func spillAndRollBack(_ db: Database) throws {
        try db.execute(sql: "PRAGMA cache_size = 64")
        defer { try? db.execute(sql: "PRAGMA cache_size = -\(SQLiteStore.writerCacheKiB)") }
        do {
            try db.inTransaction {
                try insertScratch(0..<600, page: "randomblob(4000)", db)
                throw DatabaseError(message: "rolled back on purpose")
            }
        } catch let error as DatabaseError where error.message == "rolled back on purpose" {}
    }

    /// The count of rows, of rows whose page is not zeros, and `PRAGMA integrity_check`'s answer.
    static func scratchFacts(_ sqlite: SQLiteStore) async throws -> (rows: Int?, random: Int?, check: String?) {
        try await sqlite.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch"),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch WHERE page <> zeroblob(4000)"),
             try String.fetchOne(db, sql: "PRAGMA integrity_check"))
        }
    }

    @Test("has every frame of a commit in the log file before the commit returns, with its writes buffered")
    func bufferedLogReachesTheFile() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            let sqlite = try #require(store as? SQLiteStore)
            // The frames every reader now takes as committed (the log index's `mxFrame`, in the
            // shared-memory file, native byte order), against the bytes in the log file; read
            // beside SQLite, since reading through the writer's own log would write out its buffer.
            @Sendable func committedFramesAreInTheFile() throws -> Bool {
                let index = try Data(contentsOf: URL(fileURLWithPath: sqlite.path + "-shm")).prefix(48)
                let frames = Int64(index.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self) })
                let size = try FileManager.default.attributesOfItem(atPath: sqlite.path + "-wal")[.size] as? Int64 ?? 0
                return frames > 0 && size >= 32 + frames * Int64(4096 + 24)
            }
            try await Self.createScratch(sqlite)

            // When a transaction spills its pages into the log and is rolled back, and a smaller one
            // is committed over the same stretch of the log
            try await sqlite.pool.writeWithoutTransaction { db in
                try Self.spillAndRollBack(db)
                try db.inTransaction {
                    try Self.insertScratch(0..<300, db)
                    return .commit
                }
            }
            // Then its frames are in the file, and another connection reads its rows
            #expect(try committedFramesAreInTheFile())
            #expect(try await Self.scratchFacts(sqlite).rows == 300)

            // When one larger than the buffer (4 MiB) is committed
            try await sqlite.pool.write { db in try Self.insertScratch(300..<1_800, db) }
            // Then the same holds, and the database is whole
            #expect(try committedFramesAreInTheFile())
            let facts = try await Self.scratchFacts(sqlite)
            #expect(facts.rows == 1_800)
            #expect(facts.random == 0)
            #expect(facts.check == "ok")
        }
    }

    @Test("never lets a rolled-back transaction's buffered log frames land over another writer's commit")
    func rolledBackFramesDoNotOutliveTheirTransaction() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            let first = try #require(store as? SQLiteStore)
            try await Self.createScratch(first)
            // Given a second store on the same file (as a command-line tool would open it)
            let second = try SQLiteStore(path: first.path)

            // When the first store's writer spills a transaction into the log and rolls it back,
            // the log having started over (so that the rollback reads nothing back from it, which
            // would write the buffer out),
            try await first.pool.writeWithoutTransaction { db in
                try db.checkpoint(.truncate)
                try Self.spillAndRollBack(db)
            }
            // the second commits over the same stretch of the log, and the first commits again
            try await second.pool.write { db in try Self.insertScratch(0..<200, db) }
            try await first.pool.write { db in try Self.insertScratch(200..<201, db) }

            // Then both commits are there, whole, seen from either store
            for sqlite in [first, second] {
                let facts = try await Self.scratchFacts(sqlite)
                #expect(facts.rows == 201)
                #expect(facts.random == 0)
                #expect(facts.check == "ok")
            }
        }
    }

    @Test("copies the log back on a connection of its own and keeps it bounded under steady writes")
    func checkpointsOffTheWriter() async throws {
        // Lengths an eighth of the standard ones, so that five times the restart length is quick
        let lengths = WALCheckpointer.Lengths(passiveEveryFrames: 2_000, restartAtFrames: 8_000, finishAtMostFrames: 512)
        let last = try #require(SQLiteMigrations.migrator.migrations.last)
        try await Self.withStore(migratedUpTo: last, logLengths: lengths) { sqlite in
            // Given the writer, whose own automatic checkpoint is off
            let automatic = try await sqlite.pool.write { db in
                try db.execute(sql: "CREATE TABLE scratch (page BLOB NOT NULL)")
                return try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint")
            }
            #expect(automatic == 0)

            // When it commits five times the log's restart length, a hundred pages at a time
            let commits = 5 * lengths.restartAtFrames / 100
            var longest: Int64 = 0
            for _ in 0..<commits {
                try await sqlite.pool.write { db in
                    for _ in 0..<100 { try db.execute(sql: "INSERT INTO scratch VALUES (zeroblob(4000))") }
                }
                let size = try FileManager.default.attributesOfItem(atPath: sqlite.path + "-wal")[.size] as? Int64 ?? 0
                longest = max(longest, size)
            }

            // Then every row is there, and the log never grew far past twice its restart length (where
            // the writer copies whatever is left), though the writes alone would make it five times
            // as long
            let rows = try await sqlite.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch") }
            #expect(rows == commits * 100)
            let frameBytes = Int64(4096 + 24)
            #expect(longest > 0)
            #expect(longest <= Int64(5 * lengths.restartAtFrames / 2) * frameBytes)
        }
    }

    @Test("starts the database file's writeback while a checkpoint copies pages back, not only at its sync")
    func checkpointWriteback() async throws {
        let last = try #require(SQLiteMigrations.migrator.migrations.last)
        try await Self.withStore(migratedUpTo: last) { sqlite in
            // Given 8 MiB of pages in the log
            try await sqlite.pool.write { db in
                try db.execute(sql: "CREATE TABLE scratch (page BLOB NOT NULL)")
                for _ in 0..<2_000 { try db.execute(sql: "INSERT INTO scratch VALUES (zeroblob(4000))") }
            }
            // When a checkpoint copies them into the database file
            let before = sqlite.databaseWritebackStarts
            try await sqlite.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            // Then their writeback was started every 256 KiB or so on the way (8 MiB / 256 KiB = 32)
            #expect(sqlite.databaseWritebackStarts - before >= 16)
        }
    }

    @Test("keeps the database file locked for the store when another connection that started its writeback closes")
    func writebackKeepsLocks() async throws {
        let last = try #require(SQLiteMigrations.migrator.migrations.last)
        try await Self.withStore(migratedUpTo: last) { sqlite in
            // Given another connection of the process that wrote and checkpointed 8 MiB, starting the
            // file's writeback, and closed
            let before = sqlite.databaseWritebackStarts
            let other = try DatabaseQueue(path: sqlite.path)
            try await other.write { db in
                try db.execute(sql: "CREATE TABLE scratch (page BLOB NOT NULL)")
                for _ in 0..<2_000 { try db.execute(sql: "INSERT INTO scratch VALUES (zeroblob(4000))") }
            }
            try await other.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
            try other.close()
            #expect(sqlite.databaseWritebackStarts > before)

            // Then another process still cannot take the file for itself: closing the writeback's
            // descriptor did not drop the store's locks
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", """
                import sqlite3, sys
                try:
                    sqlite3.connect(sys.argv[1], timeout=0).execute("PRAGMA journal_mode=DELETE").fetchall()
                except sqlite3.OperationalError as error:
                    sys.exit(3 if "locked" in str(error) else 4)
                """, sqlite.path]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 3)
            #expect(try await sqlite.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM scratch") } == 2_000)
        }
    }
}
