import ArgumentParser
import Foundation
import Logging
import PatronCore
import PatronEngine
import PatronServer

extension StaffRole: ExpressibleByArgument {}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the people who sign in to the operator console.",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an operator user.",
            discussion: """
                Roles: owner (everything, including operator users and API keys), marketer (configuration and \
                back-tests), support (members: adjustments and erasure), analyst (reads only). The password is read \
                from standard input (one line, \(Engine.passwordLengths.lowerBound) to \
                \(Engine.passwordLengths.upperBound) bytes), so it never appears in the process list or the shell's history.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(help: "The email the person signs in with.") var email: String
        @Option(help: "The name shown in the console (default: the email's local part).") var name: String?
        @Option(help: "owner, marketer, support or analyst.") var role: StaffRole
        @Flag(help: "Read the password from standard input.") var passwordStdin = false

        func validate() throws {
            guard passwordStdin else { throw ValidationError("Give the password on standard input with --password-stdin.") }
        }

        func run() async throws {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("No password on standard input.")
            }
            let email = email, role = role
            let name = name ?? String(email.split(separator: "@").first ?? Substring(email))
            let user: OperatorUser
            do {
                user = try await withStore(at: database.url, logger: Logger(label: "patron.user")) { store in
                    try await store.migrate()
                    return try await Engine(store: store).createOperator(email: email, name: name, role: role, password: line)
                }
            } catch EngineError.invalid(let error) {
                for fault in error.faults { FileHandle.standardError.write(Data("error: \(fault.message)\n".utf8)) }
                throw ExitCode(1)
            } catch EngineError.conflict(_, let detail) {
                FileHandle.standardError.write(Data("error: \(detail)\n".utf8))
                throw ExitCode(1)
            }
            print("Created \(user.role.rawValue) \(user.email) (\(user.id)).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the operator users.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let users = try await withStore(at: database.url, logger: Logger(label: "patron.user")) { store in
                try await store.migrate()
                return try await Engine(store: store).operatorUsers()
            }
            for user in users { print("\(user.email)\t\(user.role.rawValue)\t\(user.name)") }
        }
    }
}
