import ArgumentParser
import Foundation
import PatronCore

/// `patron expr`: try the rule language from the command line.
struct Expr: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate rule-language (CEL) expressions and run conformance files.",
        subcommands: [Eval.self, Test.self])

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the value of an expression.",
            discussion: """
                Variables are given with --bind NAME=JSON. Without --rule, each bound name is a \
                variable of its JSON value's type. With --rule, the expression is compiled as an \
                earning rule: `event`, `member` and `program` as in docs/RULES.md, and their JSON \
                is converted to those types (timestamps as RFC 3339 strings).
                Example: patron expr eval 'x * 2 + size(tags)' --bind x=20 --bind 'tags=["a","b"]'
                """)

        @Argument(help: "The expression.") var expression: String
        @Option(name: .customLong("bind"), help: ArgumentHelp("A variable: NAME=JSON (repeatable).", valueName: "name=json"))
        var bindings: [String] = []
        @Flag(help: "Compile as an earning rule, with event, member and program declared.") var rule = false
        @Flag(help: "Do not type-check: unknown names and functions fail only when evaluated.") var unchecked = false

        func run() throws {
            var values: [String: JSONValue] = [:]
            for binding in bindings {
                guard let equals = binding.firstIndex(of: "=") else {
                    throw ValidationError("--bind needs NAME=JSON, not '\(binding)'")
                }
                let name = String(binding[..<equals])
                do {
                    values[name] = try JSONValue(parsing: Data(binding[binding.index(after: equals)...].utf8))
                } catch {
                    throw ValidationError("--bind \(name): the value is not valid JSON")
                }
            }
            let environment: CELEnvironment
            var celValues: [String: CELValue] = [:]
            if rule {
                environment = unchecked
                    ? CELEnvironment(variables: RuleEnvironment.earning.variables, checked: false)
                    : RuleEnvironment.earning
                for (name, json) in values {
                    guard let variable = environment.variables.first(where: { $0.name == name }) else {
                        throw ValidationError("--bind \(name): an earning rule has only event, member and program")
                    }
                    do throws(CELEvalError) {
                        celValues[name] = try CELValue(json: json, as: variable.type, at: name)
                    } catch {
                        throw ValidationError("--bind \(name): \(error.message)")
                    }
                }
            } else {
                for (name, json) in values { celValues[name] = CELValue(json: json) }
                let variables = celValues.keys.sorted().map { (name: $0, type: celValues[$0]!.type) }
                environment = CELEnvironment(variables: variables, checked: !unchecked)
            }
            let program: CELProgram
            do throws(CELCompileError) {
                program = try CELProgram(expression, environment: environment)
            } catch {
                FileHandle.standardError.write(Data("\(error.description)\n".utf8))
                throw ExitCode(2)
            }
            do throws(CELEvalError) {
                print(try program.evaluate(celValues, in: environment).literal)
            } catch {
                FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run conformance files (the JSON format of CEL's test suite); one line per failure.",
            discussion: "Example: patron expr test ../shared/conformance/cel/*.json")

        @Argument(help: "Conformance files.") var files: [String]

        func run() throws {
            var passed = 0
            var failed = 0
            for file in files {
                let cases: [CELConformance.TestCase]
                do {
                    cases = try CELConformance.load(URL(fileURLWithPath: file))
                } catch {
                    throw ValidationError("\(file): \(error)")
                }
                for test in cases {
                    if let reason = CELConformance.run(test) {
                        failed += 1
                        print("FAIL \(test.path): \(reason)  [\(test.expression)]")
                    } else {
                        passed += 1
                    }
                }
            }
            print("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode.failure }
        }
    }
}
