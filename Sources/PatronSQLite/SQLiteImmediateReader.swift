import Foundation
import GRDB
import PatronCore
import PatronEngine

extension SQLiteStore: ImmediateReaderSource {
    public func makeImmediateReader() throws -> any ImmediateReader {
        try SQLiteImmediateReader(path: path)
    }
}

/// A read-only connection of its own to the store's file, read on the calling thread: GRDB runs a
/// `DatabaseQueue`'s synchronous access there when the queue is idle, and nobody else uses this
/// one, so a read takes no lock that another thread holds (a pool's readers are handed out under
/// one).
final class SQLiteImmediateReader: ImmediateReader {
    private let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "patron.immediate-reader"
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    func member(programID: String, id: String) throws -> Member? {
        try queue.inDatabase { db in try SQLiteStore.member(programID: programID, id: id, db) }
    }

    func entitlementState(programID: String, memberID: String, periods: [String: Date], plansAfter instant: Date) throws
        -> (state: EntitlementState, subscriptions: [Subscription])? {
        // One statement, so of one moment without a transaction (BEGIN and COMMIT were two more
        // statements a check).
        func standing(_ db: Database) throws -> EntitlementState? {
            try SQLiteStore.entitlementState(programID: programID, memberID: memberID, periods: periods, db)
        }
        guard let state = try queue.inDatabase(standing) else { return nil }
        guard state.hasPlan(runningAfter: instant) else { return (state, []) }
        // A running plan: the standing again with the subscriptions, in one transaction, so that
        // both are of one moment.
        return try queue.inDatabase { db in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            defer { try? db.cachedStatement(sql: "COMMIT").execute() }
            guard let state = try standing(db) else { return nil }
            return (state, try SQLiteStore.subscriptions(memberID: memberID, db))
        }
    }
}
