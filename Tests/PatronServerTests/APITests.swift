import Foundation
import HTTPTypes
import PatronCore
import PatronTestSupport
import Testing

@Suite("The API")
struct APITests {
    @Test("walks through programs, configuration and members", arguments: TestStoreKind.available)
    func walkthrough(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            let created = try await app.createProgram()
            #expect(created.status == 201)
            #expect(created.headers[.location] == "/v1/programs/shop")
            #expect(created.json["config_version"] == .int(1))
            #expect(try await app.call(.get, "/v1/programs/shop").json["time_zone"] == .string("Asia/Shanghai"))

            let config = """
                {"currency":"CNY","time_zone":"Asia/Shanghai",
                 "tiers":{"metric":"growth","levels":[{"code":"silver","name":"Silver","threshold":0},
                                                      {"code":"gold","name":"Gold","threshold":5000,"retain":4000}]},
                 "member_fields":[{"code":"skin_type","name":"Skin","type":"enum","values":["dry","oily"],
                                   "sensitive":true,"purpose":"personalisation"}]}
                """
            let stored = try await app.call(.put, "/v1/programs/shop/config", json: config)
            #expect(stored.status == 200)
            #expect(stored.json["version"] == .int(2))
            #expect(stored.headers[.eTag] == "\"2\"")
            let again = try await app.call(.put, "/v1/programs/shop/config", json: config)
            #expect(again.json["version"] == .int(2), "an unchanged document stores no new version")
            #expect(try await app.call(.get, "/v1/programs/shop/config").json["tiers"]?["levels"]?.arrayValue?.count == 2)
            let versions = try await app.call(.get, "/v1/programs/shop/config/versions").json["items"]?.arrayValue
            #expect(versions?.compactMap { $0["version"]?.intValue } == [2, 1])
            #expect(try await app.call(.get, "/v1/programs/shop/config/versions/1").json["document"]?["tiers"] == nil)

            let enrolled = try await app.enrol("shop", """
                {"external_id":"C-1001","name":"李娜","phone":"+86 138-0013-8000","email":"Li.Na@Example.com",
                 "birthday":"1992-03-08","gender":"female","region":"CN-31","channel":"store",
                 "consents":{"personalisation":true,"marketing":false},"attributes":{"skin_type":"dry"}}
                """)
            #expect(enrolled.status == 201)
            let id = try #require(enrolled.json["id"]?.stringValue)
            #expect(enrolled.json["phone"] == .string("+8613800138000"))
            #expect(enrolled.json["email"] == .string("li.na@example.com"))
            #expect(enrolled.headers[.location] == "/v1/programs/shop/members/\(id)")

            let found = try await app.call(.get, "/v1/programs/shop/members?phone=%2B86%20138%200013%208000")
            #expect(found.json["items"]?.arrayValue?.map { $0["id"] } == [.string(id)])
            #expect(try await app.call(.get, "/v1/programs/shop/members?email=LI.NA@example.com").json["items"]?.arrayValue?.count == 1)

            let patched = try await app.call(.patch, "/v1/programs/shop/members/\(id)",
                                             json: #"{"name":"李娜娜","region":null,"consents":{"personalisation":false}}"#)
            #expect(patched.status == 200)
            #expect(patched.json["name"] == .string("李娜娜"))
            #expect(patched.json["region"] == nil)
            #expect(patched.json["attributes"]?["skin_type"] == nil, "withdrawing consent removes the sensitive field")

            let export = try await app.call(.get, "/v1/programs/shop/members/\(id)/export")
            #expect(export.status == 200)
            #expect(export.json["consent_history"]?.arrayValue?.count == 3)
            #expect(export.json["fields"]?.arrayValue?.first?["purpose"] == .string("personalisation"))

            let erased = try await app.call(.delete, "/v1/programs/shop/members/\(id)")
            #expect(erased.status == 200)
            #expect(erased.json["status"] == .string("erased"))
            #expect(erased.json["name"] == nil && erased.json["external_id"] == nil && erased.json["phone"] == nil)
            #expect(try await app.call(.get, "/v1/programs/shop/members/\(id)").status == 410)
            #expect(try await app.call(.delete, "/v1/programs/shop/members/\(id)").status == 200)
            #expect(try await app.enrol("shop", #"{"external_id":"C-1001","channel":"app"}"#).status == 201,
                    "the erased member's external id is free again")
        }
    }

    @Test("answers bad input with a problem and changes nothing", arguments: TestStoreKind.available)
    func badInput(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind, maxBodyBytes: 4096) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.enrol("shop", #"{"external_id":"C-1","channel":"app"}"#).status == 201)
            let cases: [(String, Reply, Int, String)] = [
                ("malformed JSON", try await app.enrol("shop", #"{"external_id":"C-2","#), 400, "malformed_request"),
                ("wrong type", try await app.enrol("shop", #"{"external_id":42,"channel":"app"}"#), 400, "malformed_request"),
                ("missing field", try await app.enrol("shop", #"{"channel":"app"}"#), 400, "malformed_request"),
                ("unknown field", try await app.enrol("shop", #"{"external_id":"C-2","channel":"app","vip":true}"#), 400,
                 "malformed_request"),
                ("bad value", try await app.enrol("shop", #"{"external_id":"C-2","channel":"app","email":"nope","birthday":"1990-02-30"}"#),
                 422, "validation_failed"),
                ("unknown program", try await app.enrol("nope", #"{"external_id":"C-2","channel":"app"}"#), 404, "not_found"),
                ("unknown member", try await app.call(.get, "/v1/programs/shop/members/0190b1c4-0000-7000-8000-000000000000"),
                 404, "not_found"),
                ("duplicate external_id", try await app.enrol("shop", #"{"external_id":"C-1","channel":"store"}"#), 409,
                 "external_id_taken"),
                ("oversize body", try await app.enrol("shop", #"{"external_id":"C-2","channel":"app","name":"\#(String(repeating: "x", count: 5000))"}"#),
                 413, "body_too_large"),
                ("missing key", try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-2","channel":"app"}"#, key: nil),
                 401, "unauthenticated"),
                ("wrong key", try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-2","channel":"app"}"#, key: "pk_wrong"),
                 401, "unauthenticated"),
                ("not JSON", try await app.call(.post, "/v1/programs/shop/members", json: "external_id=C-2",
                                                headers: [.contentType: "text/plain"]), 415, "unsupported_media_type"),
                ("bad limit", try await app.call(.get, "/v1/programs/shop/members?limit=500"), 422, "validation_failed"),
                ("bad cursor", try await app.call(.get, "/v1/programs/shop/members?cursor=xyz"), 422, "validation_failed"),
            ]
            for (name, reply, status, code) in cases {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
                #expect(reply.isProblem, "\(name)")
            }
            #expect(try await app.memberCount() == 1)
            #expect(try await app.enrol("shop", #"{"external_id":"C-9","channel":"app","email":"nope","birthday":"1990-02-30"}"#).faultPointers
                    .sorted() == ["/birthday", "/email"], "every fault is listed")
        }
    }

    @Test("checks every key's role and program scope", arguments: TestStoreKind.available)
    func access(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram("shop").status == 201)
            #expect(try await app.createProgram("cafe").status == 201)
            let cafeOperator = try await app.createKey(role: "operator", program: "cafe")
            let reader = try await app.createKey(role: "read_only")
            let integration = try await app.createKey(role: "integration", program: "shop")

            let scoped = try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-1","channel":"app"}"#,
                                            key: cafeOperator)
            #expect(scoped.status == 403)
            #expect(scoped.problemCode == "program_out_of_scope")
            #expect(try await app.call(.get, "/v1/programs", key: cafeOperator).json["items"]?.arrayValue?.count == 1)
            #expect(try await app.call(.get, "/v1/programs/shop/config", key: cafeOperator).status == 403)

            let readOnlyWrite = try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-1","channel":"app"}"#,
                                                   key: reader)
            #expect(readOnlyWrite.status == 403)
            #expect(readOnlyWrite.problemCode == "insufficient_role")
            #expect(try await app.call(.get, "/v1/programs/shop/members", key: reader).status == 200)

            let enrolled = try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-1","channel":"app"}"#,
                                              key: integration)
            #expect(enrolled.status == 201)
            let id = try #require(enrolled.json["id"]?.stringValue)
            #expect(try await app.call(.delete, "/v1/programs/shop/members/\(id)", key: integration).status == 403)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: #"{"currency":"CNY","time_zone":"UTC"}"#,
                                       key: integration).status == 403)
            #expect(try await app.call(.get, "/v1/api-keys", key: integration).status == 403)
            #expect(try await app.call(.post, "/v1/programs",
                                       json: #"{"code":"x","name":"X","currency":"CNY","time_zone":"UTC"}"#,
                                       key: cafeOperator).status == 403)
            #expect(try await app.memberCount("shop") == 1)
        }
    }

    @Test("manages API keys: shown once, listed by prefix, revoked at once", arguments: TestStoreKind.available)
    func apiKeys(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            let created = try await app.call(.post, "/v1/api-keys", json: #"{"name":"POS","role":"integration"}"#)
            #expect(created.status == 201)
            let secret = try #require(created.json["secret"]?.stringValue)
            let id = try #require(created.json["id"]?.stringValue)
            #expect(secret.hasPrefix(created.json["prefix"]?.stringValue ?? "-"))
            let listed = try await app.call(.get, "/v1/api-keys")
            #expect(listed.json["items"]?.arrayValue?.count == 2)
            #expect(!String(decoding: listed.body, as: UTF8.self).contains(secret), "a secret is never listed")
            #expect(try await app.call(.get, "/v1/programs", key: secret).status == 200)
            #expect(try await app.call(.delete, "/v1/api-keys/\(id)").status == 204)
            #expect(try await app.call(.get, "/v1/programs", key: secret).status == 401)
            #expect(try await app.call(.delete, "/v1/api-keys/\(id)").status == 204, "revoking again is harmless")
            #expect(try await app.call(.delete, "/v1/api-keys/0190b1c4-0000-7000-8000-000000000000").status == 404)
            let adminID = try #require(listed.json["items"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(try await app.call(.delete, "/v1/api-keys/\(adminID)").problemCode == "cannot_revoke_own_key")
            #expect(try await app.call(.post, "/v1/programs",
                                       json: #"{"code":"x","name":"X","currency":"CNY","time_zone":"UTC"}"#).status == 201,
                    "the admin key still works")
        }
    }

    @Test("replays an Idempotency-Key and refuses it for another body", arguments: TestStoreKind.available)
    func idempotency(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "enrol-C-1"]
            let body = #"{"external_id":"C-1","channel":"app"}"#
            let first = try await app.call(.post, "/v1/programs/shop/members", json: body, headers: key)
            let second = try await app.call(.post, "/v1/programs/shop/members", json: body, headers: key)
            #expect(first.status == 201)
            #expect(second.status == 201)
            #expect(second.body == first.body)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(second.headers[.location] == first.headers[.location])
            let other = try await app.call(.post, "/v1/programs/shop/members", json: #"{"external_id":"C-2","channel":"app"}"#,
                                           headers: key)
            #expect(other.status == 422)
            #expect(other.problemCode == "idempotency_key_reused")
            #expect(try await app.memberCount() == 1)
            // A refused request is remembered too: the retry gets the same refusal.
            let conflictKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "enrol-C-1-again"]
            let refused = try await app.call(.post, "/v1/programs/shop/members", json: body, headers: conflictKey)
            #expect(refused.status == 409)
            #expect(try await app.call(.post, "/v1/programs/shop/members", json: body, headers: conflictKey).body == refused.body)
        }
    }

    @Test("validates a configuration whole, and honours If-Match", arguments: TestStoreKind.available)
    func configuration(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            let refused = try await app.call(.put, "/v1/programs/shop/config", json: """
                {"currency":"USD","time_zone":"Mars/Olympus","surprise":1,
                 "points":{"expiry":{"policy":"days_after_earn"},"refund":"sometimes"},
                 "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                                  {"code":"base","on":"purchase","award":" "}],
                 "tiers":{"levels":[{"code":"silver","name":"S","threshold":0},{"code":"gold","name":"G","threshold":0,"retain":9}]}}
                """)
            #expect(refused.status == 422)
            #expect(Set(refused.faultPointers) == [
                "/currency", "/time_zone", "/surprise", "/points/expiry/days", "/points/refund", "/earning_rules/1/code",
                "/earning_rules/1/award", "/tiers/levels/1/threshold", "/tiers/levels/1/retain",
            ])
            #expect(try await app.call(.get, "/v1/programs/shop").json["config_version"] == .int(1), "nothing was stored")
            let stale = try await app.call(.put, "/v1/programs/shop/config", json: #"{"currency":"CNY","time_zone":"UTC"}"#,
                                           headers: [.ifMatch: "\"7\""])
            #expect(stale.status == 412)
            let fresh = try await app.call(.put, "/v1/programs/shop/config", json: #"{"currency":"CNY","time_zone":"UTC"}"#,
                                           headers: [.ifMatch: "\"1\""])
            #expect(fresh.status == 200)
            #expect(try await app.call(.get, "/v1/programs/shop").json["time_zone"] == .string("UTC"))
            #expect(try await app.call(.get, "/v1/programs/shop/config/versions/9").status == 404)
        }
    }

    @Test("keeps a sensitive field only with consent to its purpose", arguments: [TestStoreKind.sqlite])
    func sensitiveFields(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: """
                {"currency":"CNY","time_zone":"Asia/Shanghai","member_fields":[
                  {"code":"skin_type","name":"Skin","type":"enum","values":["dry","oily"],"sensitive":true,"purpose":"personalisation"},
                  {"code":"visits","name":"Visits","type":"integer"}]}
                """).status == 200)
            let refused = try await app.enrol("shop", #"{"external_id":"C-1","channel":"app","attributes":{"skin_type":"dry"}}"#)
            #expect(refused.status == 422)
            #expect(refused.json["errors"]?.arrayValue?.first?["code"] == .string("consent_required"))
            let typed = try await app.enrol("shop", #"{"external_id":"C-1","channel":"app","attributes":{"visits":"many","shoe":1}}"#)
            #expect(Set(typed.faultPointers) == ["/attributes/visits", "/attributes/shoe"])
            #expect(try await app.memberCount() == 0)
        }
    }

    @Test("serves its spec, health and metrics; refuses unknown methods with 405")
    func system() async throws {
        try await TestApp.run(.sqlite) { app in
            let spec = try await app.call(.get, "/openapi.yaml", key: nil)
            #expect(spec.status == 200)
            #expect(String(decoding: spec.body, as: UTF8.self).hasPrefix("openapi: 3.1.0"))
            #expect(try await app.call(.get, "/healthz", key: nil).json["database"] == .string("ok"))
            _ = try await app.call(.get, "/v1/programs")
            let metrics = String(decoding: try await app.call(.get, "/metrics", key: nil).body, as: UTF8.self)
            #expect(metrics.contains("http_server_request_duration"))
            #expect(metrics.contains("patron_db_operation_duration_seconds"))
            let wrongMethod = try await app.call(.put, "/v1/programs", json: "{}")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers[.allow] == "GET, POST")
            #expect(try await app.call(.post, "/healthz", key: nil).headers[.allow] == "GET")
            // A literal path is not the templated one beside it (`…/events/{event}`).
            #expect(try await app.call(.get, "/v1/programs/x/events/preview").headers[.allow] == "POST")
            #expect(try await app.call(.put, "/v1/programs/x/events/e-1").headers[.allow] == "GET")
            let idempotent: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k-405"]
            #expect(try await app.call(.post, "/v1/programs/x/config", json: "{}", headers: idempotent).status == 405)
            let unknown = try await app.call(.get, "/v1/nothing-here")
            #expect(unknown.status == 404)
            #expect(unknown.isProblem)
        }
    }
}
