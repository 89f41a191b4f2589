import Foundation
import GRDB
import PatronCore
import PatronEngine

extension SQLiteStore: ImmediateReaderSource {
    public func makeImmediateReader() throws -> any ImmediateBenefitReader {
        try SQLiteImmediateReader(path: path)
    }
}

/// A read-only connection of its own to the store's file, read on the calling thread: GRDB runs a
/// `DatabaseQueue`'s synchronous read there when the queue is idle, and nobody else uses this one,
/// so a read takes no lock that another thread holds (a pool's readers are handed out under one).
final class SQLiteImmediateReader: ImmediateBenefitReader {
    private let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "patron.immediate-reader"
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    func entitlementState(programID: String, memberID: String, periods: [String: Date], plansAfter instant: Date) throws
        -> (state: EntitlementState, subscriptions: [Subscription])? {
        try snapshot { db in
            guard let state = try SQLiteStore.entitlementState(programID: programID, memberID: memberID, periods: periods, db)
            else { return nil }
            guard let until = state.planUntil, until > instant else { return (state, []) }
            return (state, try SQLiteStore.subscriptions(memberID: memberID, db))
        }
    }

    /// `read` in one transaction, so that its statements see one state of the database. Begun and
    /// ended with cached statements: GRDB's `read` parses its BEGIN and COMMIT anew each time,
    /// which was a measured share of a check.
    private func snapshot<T>(_ read: (Database) throws -> T) throws -> T {
        try queue.inDatabase { db in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            do {
                let result = try read(db)
                try db.cachedStatement(sql: "COMMIT").execute()
                return result
            } catch {
                try? db.cachedStatement(sql: "ROLLBACK").execute()
                throw error
            }
        }
    }
}
