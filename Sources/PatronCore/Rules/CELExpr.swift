/// A parsed expression: the syntax tree the parser builds, the checker types and the compiler lowers.
public struct CELExpr: Sendable {
    /// What the node is.
    public indirect enum Kind: Sendable {
        case literal(CELValue)
        /// A name, possibly qualified by the parser's resolution later (`a.b.c` is selects first).
        case identifier(String)
        /// `operand.field`; `test` is the `has(operand.field)` form, which asks for presence.
        case select(operand: CELExpr, field: String, test: Bool)
        /// A function or operator call. Operators use CEL's internal names: `_+_`, `!_`, `_[_]`,
        /// `_?_:_`, `@in`; `_&&_` and `_||_` take two or more arguments.
        case call(function: String, target: CELExpr?, arguments: [CELExpr])
        case list([CELExpr])
        case map([MapEntry])
        /// One of the macros `all`, `exists`, `exists_one`, `map` and `filter` over `range`.
        case comprehension(Comprehension)
    }

    /// A key and value of a map literal.
    public struct MapEntry: Sendable {
        public var key: CELExpr
        public var value: CELExpr
    }

    /// A macro call with its bound variable.
    public struct Comprehension: Sendable {
        public enum Macro: String, Sendable {
            case all, exists, existsOne = "exists_one", map, filter
        }

        public var macro: Macro
        public var range: CELExpr
        public var variable: String
        /// The predicate (`all`, `exists`, `exists_one`, `filter`, `map` with a filter) or the
        /// transform of a two-argument `map`.
        public var body: CELExpr
        /// The transform of a three-argument `map(x, filter, transform)`.
        public var transform: CELExpr?
    }

    public var kind: Kind {
        didSet { height = Self.height(of: kind) }
    }
    /// Offset of the node in the source, in Unicode scalars.
    public var offset: Int
    /// Nodes on the longest path from this one down to a leaf: 1 for a literal or a name. Compiling,
    /// printing and evaluating recurse once per level, so the parser bounds this, not just brackets.
    private(set) var height: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
        self.height = Self.height(of: kind)
    }

    private static func height(of kind: Kind) -> Int {
        switch kind {
        case .literal, .identifier:
            return 1
        case .select(let operand, _, _):
            return operand.height + 1
        case .call(_, let target, let arguments):
            return 1 + max(target?.height ?? 0, arguments.map(\.height).max() ?? 0)
        case .list(let elements):
            return 1 + (elements.map(\.height).max() ?? 0)
        case .map(let entries):
            return 1 + (entries.map { max($0.key.height, $0.value.height) }.max() ?? 0)
        case .comprehension(let comprehension):
            return 1 + max(comprehension.range.height, comprehension.body.height, comprehension.transform?.height ?? 0)
        }
    }
}

/// A place in the source, for messages: line and column, both from 1.
public struct CELSourcePosition: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    /// The position of a scalar offset in `source`.
    public init(offset: Int, in source: String) {
        var line = 1
        var column = 1
        for (index, scalar) in source.unicodeScalars.enumerated() {
            if index == offset { break }
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A fault found before evaluation — in the syntax, a name, or a type — with its position.
public struct CELCompileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: CELSourcePosition
    /// The fault without position: "expected ')'".
    public var message: String

    public init(_ message: String, at position: CELSourcePosition) {
        self.message = message
        self.position = position
    }

    /// The fault as operators read it: "1:14: expected ')'".
    public var description: String { "\(position): \(message)" }
}
