import Foundation

/// Runs conformance cases in the JSON form of CEL's public test suite (see
/// `../shared/conformance/cel/README.md`): each case an expression, its bindings and the expected
/// value or the fact of an error.
public enum CELConformance {
    /// One test case.
    public struct TestCase: Sendable {
        public var file: String
        public var section: String
        public var name: String
        public var expression: String
        public var bindings: [String: CELValue]
        /// The case is meant for unchecked (dynamic) evaluation.
        public var isUnchecked: Bool
        /// The expected value, or nil when an error is expected.
        public var expected: CELValue?

        /// `file/section/name`, how failures are named.
        public var path: String { "\(file)/\(section)/\(name)" }
    }

    /// Reads the cases of one file.
    public static func load(_ url: URL) throws -> [TestCase] {
        let document = try JSONValue(parsing: Data(contentsOf: url))
        let file = document["name"]?.stringValue ?? url.deletingPathExtension().lastPathComponent
        var cases: [TestCase] = []
        for section in document["sections"]?.arrayValue ?? [] {
            let sectionName = section["name"]?.stringValue ?? "?"
            for test in section["tests"]?.arrayValue ?? [] {
                var bindings: [String: CELValue] = [:]
                for (name, value) in test["bindings"]?.objectValue ?? [:] {
                    bindings[name] = try decode(value)
                }
                let expected = try test["value"].map(decode)
                guard expected != nil || test["error"] != nil else {
                    throw ConformanceFileError("\(file)/\(sectionName): a case has neither value nor error")
                }
                cases.append(TestCase(
                    file: file, section: sectionName, name: test["name"]?.stringValue ?? "?",
                    expression: test["expr"]?.stringValue ?? "",
                    bindings: bindings, isUnchecked: test["disable_check"]?.boolValue ?? false,
                    expected: expected))
            }
        }
        return cases
    }

    /// Runs one case: nil when it passes, else why it failed.
    public static func run(_ test: TestCase) -> String? {
        let variables = test.bindings.keys.sorted().map { (name: $0, type: test.bindings[$0]!.type) }
        // Constants that cannot convert are evaluation errors in the suite, so leave them to evaluation.
        let environment = CELEnvironment(variables: variables, checked: !test.isUnchecked, rejectsConstantErrors: false)
        let program: CELProgram
        do {
            program = try CELProgram(test.expression, environment: environment)
        } catch {
            return "does not compile: \(error)"
        }
        let outcome: Result<CELValue, CELEvalError>
        do {
            outcome = .success(try program.evaluate(test.bindings, in: environment))
        } catch {
            outcome = .failure(error)
        }
        switch (outcome, test.expected) {
        case (.success(let value), let expected?):
            return matches(value, expected) ? nil : "expected \(expected.literal), got \(value.literal)"
        case (.success(let value), nil):
            return "expected an error, got \(value.literal)"
        case (.failure(let error), let expected?):
            return "expected \(expected.literal), got error: \(error.message)"
        case (.failure, nil):
            return nil
        }
    }

    /// Expected and actual agree: CEL equality, but also the same kind (1 is not 1u here), and a
    /// NaN equals an expected NaN.
    static func matches(_ actual: CELValue, _ expected: CELValue) -> Bool {
        switch (actual, expected) {
        case (.double(let a), .double(let b)) where a.isNaN || b.isNaN: return a.isNaN && b.isNaN
        case (.list(let a), .list(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { matches($0, $1) }
        case (.map(let a), .map(let b)):
            guard a.count == b.count else { return false }
            return a.entries.allSatisfy { entry in
                guard let other = try? b.value(for: entry.key) else { return false }
                return matches(entry.value, other)
            }
        default:
            return actual.type.sameKind(as: expected.type) && actual.celEquals(expected)
        }
    }

    /// A VALUE of the conformance format: `{"int": "42"}`, `{"list": [...]}`, `{"type": "int"}`, …
    public static func decode(_ json: JSONValue) throws -> CELValue {
        guard let object = json.objectValue, object.count == 1, let (kind, payload) = object.first else {
            throw ConformanceFileError("a value must be an object with one key, not \(json.canonicalString())")
        }
        switch (kind, payload) {
        case ("int", .string(let text)):
            guard let int = Int64(text) else { throw ConformanceFileError("bad int \(text)") }
            return .int(int)
        case ("uint", .string(let text)):
            guard let uint = UInt64(text) else { throw ConformanceFileError("bad uint \(text)") }
            return .uint(uint)
        case ("double", .string(let text)):
            switch text {
            case "inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan": return .double(.nan)
            default: throw ConformanceFileError("bad double \(text)")
            }
        case ("double", .int(let int)): return .double(Double(int))
        case ("double", .double(let double)): return .double(double)
        case ("string", .string(let text)): return .string(text)
        case ("bytes", .string(let text)):
            guard let data = Data(base64Encoded: text) else { throw ConformanceFileError("bad base64 \(text)") }
            return .bytes(Array(data))
        case ("bool", .bool(let bool)): return .bool(bool)
        case ("null", _): return .null
        case ("list", .array(let elements)): return .list(try elements.map(decode))
        case ("map", .array(let pairs)):
            var entries: [(key: CELValue, value: CELValue)] = []
            for pair in pairs {
                guard let items = pair.arrayValue, items.count == 2 else { throw ConformanceFileError("bad map entry") }
                entries.append((try decode(items[0]), try decode(items[1])))
            }
            do {
                return .map(try CELMap(entries))
            } catch {
                throw ConformanceFileError(error.message)
            }
        case ("type", .string(let name)):
            guard let type = CELType.builtInIdentifiers[name] else { throw ConformanceFileError("unknown type \(name)") }
            return .type(type)
        default:
            throw ConformanceFileError("unknown value kind \(kind)")
        }
    }

    /// A conformance file that does not follow the format.
    public struct ConformanceFileError: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
