import ArgumentParser
import Foundation
import Logging
import PatronCore
import PatronEngine
import PatronServer

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Inspect the points ledger.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every invariant of the ledger; exit 1 on any breach, 2 when there is nothing to check.",
            discussion: """
                Checks, member by member: each cached balance equals what its transfers add up to; pending and \
                available equal what the lots hold; each lot's remainder equals its amount less what transfers took \
                and plus what they gave back; open holds equal the held balance and closed ones were settled in full; \
                every transfer names lots and holds of its member; every lot and hold is in some member's history \
                (run on a ledger at rest: one made during the run can hide a missing one); on SQLite, the member \
                activity that caps, limits and tier windows read agrees row for row with the events and earnings; and \
                debits equal credits per unit.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(help: "Check only this program (its code).") var program: String?

        func run() async throws {
            let program = program
            // A path that names no file would be created empty, and its empty ledger found sound.
            if case .sqlite(let path) = try StoreLocation(database.url).kind, !FileManager.default.fileExists(atPath: path) {
                FileHandle.standardError.write(Data("error: no database at \(path); there is nothing to verify.\n".utf8))
                throw ExitCode(2)
            }
            let result: LedgerVerification
            do {
                result = try await withStore(at: database.url, logger: Logger(label: "patron.ledger")) { store in
                    try await store.migrate()
                    return try await Engine(store: store).verifyLedger(programCode: program)
                }
            } catch EngineError.notFound(resource: "program", let code) {
                FileHandle.standardError.write(Data("error: no program '\(code)' in this database.\n".utf8))
                throw ExitCode(2)
            }
            print("Checked \(result.programs) program(s), \(result.members) member(s), \(result.transfers) transfer(s).")
            for unit in LedgerUnit.allCases {
                guard let balances = result.balances[unit] else { continue }
                let listed = balances.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print("\(unit.rawValue): \(listed)")
            }
            if result.isSound {
                print("The ledger is sound.")
                return
            }
            for breach in result.breaches.prefix(1000) { print("BREACH \(breach)") }
            print("\(result.breaches.count) breach(es) found.")
            throw ExitCode(1)
        }
    }
}
