import Foundation
import GRDB
import GRDBSQLite

// The writer's statements for every event, run straight through SQLite's C API on GRDB's cached
// statements. Through GRDB each one built an argument array of boxed values, bound them, and did
// GRDB's per-statement bookkeeping (observation, selected regions, which the store uses neither
// of); reading built a row object and decoded each value through it. That was a fifth of the
// writer's time on its rows and two thirds of its snapshot's (docs/PERFORMANCE.md). Values are
// bound in order and read by column position; errors are GRDB's `DatabaseError`, with SQLite's
// extended code, so that a broken unique index still reads as a duplicate.

/// A value bound into a statement run directly.
protocol DirectBindable {
    /// Binds the value as parameter `index` (from 1) of `statement`; SQLite's result code.
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32
}

/// SQLite copies the bytes it is given before the bind returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Int64: DirectBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, self)
    }
}

extension Int: DirectBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, Int64(self))
    }
}

extension String: DirectBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        var text = self
        return text.withUTF8 { bindText(UnsafeRawBufferPointer($0), to: statement, at: index) }
    }
}

/// Text already in UTF-8 bytes (a receipt the engine wrote), bound as text without making a String.
struct UTF8Text: DirectBindable {
    var bytes: Data

    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        bytes.withUnsafeBytes { bindText($0, to: statement, at: index) }
    }
}

/// Binds UTF-8 `bytes` as text (empty text when there are none, never NULL); SQLite copies them.
private func bindText(_ bytes: UnsafeRawBufferPointer, to statement: OpaquePointer, at index: Int32) -> Int32 {
    guard let start = bytes.baseAddress else { return sqlite3_bind_text(statement, index, "", 0, transient) }
    return sqlite3_bind_text(statement, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), transient)
}

extension Optional: DirectBindable where Wrapped: DirectBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        switch self {
        case .some(let value): value.bind(to: statement, at: index)
        case .none: sqlite3_bind_null(statement, index)
        }
    }
}

/// The current row of a statement run directly, read by column position (from 0). A NULL where
/// a value is required throws, as postgres-nio's decoding does, rather than read as 0 or "".
struct DirectRow {
    fileprivate let statement: OpaquePointer

    func int64(_ column: Int32) throws -> Int64 {
        guard let value = optionalInt64(column) else { throw null(column) }
        return value
    }

    func string(_ column: Int32) throws -> String {
        guard let value = optionalString(column) else { throw null(column) }
        return value
    }

    func optionalString(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(statement, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))),
                      as: UTF8.self)
    }

    func optionalInt64(_ column: Int32) -> Int64? {
        sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
    }

    /// A NULL in a column the reader requires: the file was changed outside Patron.
    private func null(_ column: Int32) -> DatabaseError {
        let name = sqlite3_column_name(statement, column).map { String(cString: $0) } ?? "\(column)"
        return DatabaseError(resultCode: .SQLITE_CORRUPT, message: "column \(name) is NULL",
                             sql: sqlite3_sql(statement).map { String(cString: $0) })
    }
}

extension Database {
    /// Runs `sql` (prepared once per connection) with `values` bound in order, and calls `row` for
    /// each row it returns. Every parameter must be given a value.
    func direct<each Value: DirectBindable>(
        _ sql: String, _ values: repeat each Value, row: (DirectRow) throws -> Void = { _ in }) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        defer { sqlite3_reset(statement) }
        var index: Int32 = 0
        for value in repeat each values {
            index += 1
            let code = value.bind(to: statement, at: index)
            guard code == SQLITE_OK else { throw directError(code, sql) }
        }
        try step(statement, bound: index, sql, row: row)
    }

    /// Runs `sql` (prepared once per connection) with `values` bound in order: `direct` for a
    /// statement whose parameters are counted at run time, such as a number of rows.
    func direct(_ sql: String, values: [any DirectBindable]) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        defer { sqlite3_reset(statement) }
        for (offset, value) in values.enumerated() {
            let code = value.bind(to: statement, at: Int32(offset + 1))
            guard code == SQLITE_OK else { throw directError(code, sql) }
        }
        try step(statement, bound: Int32(values.count), sql, row: { _ in })
    }

    /// Steps a statement whose first `bound` parameters are bound, after checking they are all of them.
    private func step(_ statement: OpaquePointer, bound: Int32, _ sql: String, row: (DirectRow) throws -> Void) throws {
        guard bound == sqlite3_bind_parameter_count(statement) else {
            throw DatabaseError(resultCode: .SQLITE_RANGE, message: "\(bound) values for the statement's parameters", sql: sql)
        }
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_DONE: return
            case SQLITE_ROW: try row(DirectRow(statement: statement))
            case let code: throw directError(code, sql)
            }
        }
    }

    /// The first column of the first row `sql` returns, as an integer; nil when there is no row or
    /// the value is NULL.
    func directInt64<each Value: DirectBindable>(_ sql: String, _ values: repeat each Value) throws -> Int64? {
        var result: Int64?
        try direct(sql, repeat each values) { row in
            if result == nil { result = row.optionalInt64(0) }
        }
        return result
    }

    private func directError(_ code: Int32, _ sql: String) -> DatabaseError {
        // GRDB turns SQLite's extended codes on: `code` names the constraint that failed.
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqliteConnection)),
                      sql: sql)
    }
}
