import GRDB

// Statements with a fixed text are prepared once per connection and kept (GRDB's statement cache):
// preparing, with its authorizer callbacks, cost more than running most of these small queries.
// Text built at run time (an `IN (?, ?, …)` list) goes through GRDB's ordinary, uncached calls.

extension Database {
    /// The rows `sql` returns.
    func rows(_ sql: String, _ arguments: StatementArguments = []) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    /// The first row `sql` returns, if any.
    func row(_ sql: String, _ arguments: StatementArguments = []) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    /// The first column of every row `sql` returns.
    func values<Value: DatabaseValueConvertible & StatementColumnConvertible>(
        _ sql: String, _ arguments: StatementArguments = [], as type: Value.Type = Value.self) throws -> [Value] {
        try Value.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    /// The first column of the first row `sql` returns; nil when there is no row or it is NULL.
    func value<Value: DatabaseValueConvertible & StatementColumnConvertible>(
        _ sql: String, _ arguments: StatementArguments = [], as type: Value.Type = Value.self) throws -> Value? {
        try Value.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    /// Runs one statement that returns no rows.
    func run(_ sql: String, _ arguments: StatementArguments = []) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
