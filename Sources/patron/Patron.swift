import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PatronServer

@main
struct Patron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patron",
        abstract: "Patron, a membership and loyalty platform.",
        subcommands: [Serve.self, Migrate.self, UserCommand.self, LedgerCommand.self, Simulate.self, Expr.self, Version.self],
        defaultSubcommand: Serve.self)
}

/// Options naming the database, shared by every command that opens it.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "sqlite:PATH or postgres://user:pass@host:port/db (default: $PATRON_DATABASE_URL, else sqlite:patron.sqlite)",
        valueName: "url"))
    var database: String?

    var url: String {
        database ?? ProcessInfo.processInfo.environment["PATRON_DATABASE_URL"] ?? "sqlite:patron.sqlite"
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the API server.")

    @Option(help: "Address to listen on (default: $PATRON_HOST, else 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default: $PATRON_PORT, else 8080).") var port: Int?
    @OptionGroup var database: DatabaseOptions
    @Option(name: .long, help: "The owner API key to install (default: $PATRON_ADMIN_KEY).") var adminKey: String?
    @Flag(help: "Create the demo program 'demo' with members, once.") var demo = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: $LOG_LEVEL, else info).")
    var logLevel: String?

    func run() async throws {
        AllocatorSettings.apply()
        let environment = ProcessInfo.processInfo.environment
        var options = ServerOptions()
        options.host = host ?? environment["PATRON_HOST"] ?? options.host
        if let port = port ?? environment["PATRON_PORT"].flatMap(Int.init) { options.port = port }
        options.database = database.url
        options.adminKey = adminKey ?? environment["PATRON_ADMIN_KEY"]
        options.demo = demo
        if let level = (logLevel ?? environment["LOG_LEVEL"]) {
            guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("Unknown log level '\(level)'.") }
            options.logLevel = parsed
        }
        let level = options.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let app = try buildApplication(options) { message in
            // Written straight to the descriptor so it is not held in a buffer when output is piped.
            FileHandle.standardOutput.write(Data((message + "\n").utf8))
        }
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bring the database schema up to date, then exit.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let url = database.url
        try await withStore(at: url, logger: Logger(label: "patron.migrate")) { store in
            try await store.migrate()
        }
        print("Database \(try StoreLocation(url)) is up to date.")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("patron \(patronVersion)")
    }
}
