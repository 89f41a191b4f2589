/// Parses CEL source into a syntax tree, expanding the macros `has`, `all`, `exists`,
/// `exists_one`, `map` and `filter`.
///
/// Input is bounded: at most `maxSourceLength` characters and `maxDepth` levels of nesting, so
/// hostile input gets an error instead of exhausting the stack.
public struct CELParser {
    /// The longest source accepted, in Unicode scalars. Rules are one-liners; this leaves room.
    public static let maxSourceLength = 16_384
    /// The deepest nesting accepted: of brackets, and of the tree, where a chain nests too
    /// (`a.b.c`, `a + b + c` and `!!a` are two levels above `a`).
    public static let maxDepth = 100

    private static let reserved: Set<String> = [
        "as", "break", "const", "continue", "else", "for", "function", "if", "import", "in", "let",
        "loop", "package", "namespace", "return", "var", "void", "while",
    ]

    private let source: String
    private var tokens: [CELLexer.Token] = []
    private var index = 0
    private var depth = 0

    /// Parses one expression; the whole source must be consumed.
    public static func parse(_ source: String) throws(CELCompileError) -> CELExpr {
        var parser = CELParser(source: source)
        return try parser.parseAll()
    }

    private init(source: String) {
        self.source = source
    }

    private mutating func parseAll() throws(CELCompileError) -> CELExpr {
        let length = source.unicodeScalars.count
        guard length <= Self.maxSourceLength else {
            throw CELCompileError(
                "expression is too long (\(length) characters; the limit is \(Self.maxSourceLength))",
                at: CELSourcePosition(line: 1, column: 1))
        }
        var lexer = CELLexer(source)
        tokens = try lexer.tokens()
        if case .end = current.kind {
            throw fault("empty expression", at: 0)
        }
        let expression = try parseExpression()
        guard case .end = current.kind else {
            throw fault("expected an operator or the end of the expression but found \(describe(current))", at: current.offset)
        }
        return expression
    }

    // MARK: Tokens

    private var current: CELLexer.Token { tokens[index] }

    private mutating func advance() -> CELLexer.Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func isPunctuation(_ text: String) -> Bool {
        if case .punctuation(let punctuation) = current.kind { return punctuation == text }
        return false
    }

    private mutating func accept(_ text: String) -> Bool {
        guard isPunctuation(text) else { return false }
        _ = advance()
        return true
    }

    private mutating func expect(_ text: String) throws(CELCompileError) {
        guard accept(text) else {
            throw fault("expected '\(text)' but found \(describe(current))", at: current.offset)
        }
    }

    /// A separator was expected: "expected ',' or ')'".
    private mutating func expect(_ text: String, or closing: String) throws(CELCompileError) {
        guard accept(text) else {
            throw fault("expected '\(text)' or '\(closing)' but found \(describe(current))", at: current.offset)
        }
    }

    private func describe(_ token: CELLexer.Token) -> String {
        switch token.kind {
        case .end: "the end of the expression"
        case .punctuation(let text): "'\(text)'"
        case .identifier(let name): "'\(name)'"
        case .quotedIdentifier(let name): "'`\(name)`'"
        case .string: "a string literal"
        case .bytes: "a bytes literal"
        case .int, .uint, .double, .intMinMagnitude: "a number"
        }
    }

    private func fault(_ message: String, at offset: Int) -> CELCompileError {
        CELCompileError(message, at: CELSourcePosition(offset: offset, in: source))
    }

    private static let tooDeep = "expression is nested too deeply (the limit is \(maxDepth) levels)"

    /// One more level of the parser's own recursion (brackets and parentheses).
    private mutating func nest() throws(CELCompileError) {
        depth += 1
        if depth > Self.maxDepth { throw fault(Self.tooDeep, at: current.offset) }
    }

    /// A node with sub-expressions, refused when it makes the tree deeper than `maxDepth`. Chains
    /// such as `a.b.c`, `a + b + c` and `!!a` nest without brackets, and nested brackets each
    /// allow a chain of their own, so the tree's height is what bounds the recursion of the
    /// checker, the printer and evaluation.
    private func node(_ kind: CELExpr.Kind, at offset: Int) throws(CELCompileError) -> CELExpr {
        let expression = CELExpr(kind, at: offset)
        if expression.height > Self.maxDepth { throw fault(Self.tooDeep, at: offset) }
        return expression
    }

    // MARK: Grammar

    private mutating func parseExpression() throws(CELCompileError) -> CELExpr {
        try nest()
        defer { depth -= 1 }
        let condition = try parseBinaryChain(function: "_||_", operator: "||") { parser throws(CELCompileError) in
            try parser.parseBinaryChain(function: "_&&_", operator: "&&") { parser throws(CELCompileError) in
                try parser.parseRelation()
            }
        }
        guard isPunctuation("?") else { return condition }
        let offset = advance().offset
        let whenTrue = try parseBinaryChain(function: "_||_", operator: "||") { parser throws(CELCompileError) in
            try parser.parseBinaryChain(function: "_&&_", operator: "&&") { parser throws(CELCompileError) in
                try parser.parseRelation()
            }
        }
        try expect(":")
        let whenFalse = try parseExpression()
        return try node(.call(function: "_?_:_", target: nil, arguments: [condition, whenTrue, whenFalse]), at: offset)
    }

    /// `a && b && c` as one call with every operand, so long chains do not nest.
    private mutating func parseBinaryChain(
        function: String, operator text: String,
        operand: (inout CELParser) throws(CELCompileError) -> CELExpr
    ) throws(CELCompileError) -> CELExpr {
        let first = try operand(&self)
        guard isPunctuation(text) else { return first }
        let offset = current.offset
        var operands = [first]
        while accept(text) {
            operands.append(try operand(&self))
        }
        return try node(.call(function: function, target: nil, arguments: operands), at: offset)
    }

    private static let relations: [String: String] = [
        "<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_", "==": "_==_", "!=": "_!=_",
    ]

    private mutating func parseRelation() throws(CELCompileError) -> CELExpr {
        var left = try parseAddition()
        while true {
            let function: String
            if case .punctuation(let text) = current.kind, let relation = Self.relations[text] {
                function = relation
            } else if case .identifier("in") = current.kind {
                function = "@in"
            } else {
                return left
            }
            let offset = advance().offset
            let right = try parseAddition()
            left = try node(.call(function: function, target: nil, arguments: [left, right]), at: offset)
        }
    }

    private mutating func parseAddition() throws(CELCompileError) -> CELExpr {
        var left = try parseMultiplication()
        while isPunctuation("+") || isPunctuation("-") {
            let token = advance()
            let function = token.kind == .punctuation("+") ? "_+_" : "_-_"
            let right = try parseMultiplication()
            left = try node(.call(function: function, target: nil, arguments: [left, right]), at: token.offset)
        }
        return left
    }

    private mutating func parseMultiplication() throws(CELCompileError) -> CELExpr {
        var left = try parseUnary()
        while isPunctuation("*") || isPunctuation("/") || isPunctuation("%") {
            let token = advance()
            guard case .punctuation(let text) = token.kind else { break }
            let right = try parseUnary()
            left = try node(.call(function: "_\(text)_", target: nil, arguments: [left, right]), at: token.offset)
        }
        return left
    }

    private mutating func parseUnary() throws(CELCompileError) -> CELExpr {
        guard isPunctuation("!") || isPunctuation("-") else { return try parseMember() }
        let first = current
        guard case .punctuation(let text) = first.kind else { return try parseMember() }
        var offsets: [Int] = []
        while isPunctuation(text) {
            offsets.append(advance().offset)
        }
        var operand: CELExpr
        if text == "-", let literal = try parseNegatedLiteral(at: offsets.last!) {
            operand = literal
            offsets.removeLast()
        } else {
            operand = try parseMember()
        }
        let function = text == "!" ? "!_" : "-_"
        for offset in offsets.reversed() {
            operand = try node(.call(function: function, target: nil, arguments: [operand]), at: offset)
        }
        return operand
    }

    /// `-7` and `-9223372036854775808` are literals, not negations, when nothing follows the number.
    private mutating func parseNegatedLiteral(at offset: Int) throws(CELCompileError) -> CELExpr? {
        let value: CELValue
        switch current.kind {
        case .int(let magnitude): value = .int(-Int64(magnitude))
        case .intMinMagnitude: value = .int(.min)
        case .double(let double): value = .double(-double)
        default: return nil
        }
        let saved = index
        _ = advance()
        if isPunctuation(".") || isPunctuation("[") {
            index = saved
            return nil
        }
        return CELExpr(.literal(value), at: offset)
    }

    private mutating func parseMember() throws(CELCompileError) -> CELExpr {
        var expression = try parsePrimary()
        while true {
            if isPunctuation(".") {
                _ = advance()
                let token = advance()
                switch token.kind {
                case .identifier(let name):
                    if isPunctuation("(") {
                        _ = advance()
                        let arguments = try parseArguments(closing: ")")
                        expression = try receiverCall(name, target: expression, arguments: arguments, at: token.offset)
                    } else {
                        expression = try node(.select(operand: expression, field: name, test: false), at: token.offset)
                    }
                case .quotedIdentifier(let name):
                    expression = try node(.select(operand: expression, field: name, test: false), at: token.offset)
                default:
                    throw fault("expected a field name after '.' but found \(describe(token))", at: token.offset)
                }
            } else if isPunctuation("[") {
                let offset = advance().offset
                let key = try parseExpression()
                try expect("]")
                expression = try node(.call(function: "_[_]", target: nil, arguments: [expression, key]), at: offset)
            } else {
                return expression
            }
        }
    }

    private mutating func parseArguments(closing: String) throws(CELCompileError) -> [CELExpr] {
        var arguments: [CELExpr] = []
        if accept(closing) { return arguments }
        while true {
            arguments.append(try parseExpression())
            if accept(closing) { return arguments }
            try expect(",", or: closing)
            if closing == "]" && accept(closing) { return arguments }
        }
    }

    private mutating func parsePrimary() throws(CELCompileError) -> CELExpr {
        let token = advance()
        switch token.kind {
        case .int(let magnitude): return CELExpr(.literal(.int(Int64(magnitude))), at: token.offset)
        case .intMinMagnitude: throw fault("integer literal out of range", at: token.offset)
        case .uint(let uint): return CELExpr(.literal(.uint(uint)), at: token.offset)
        case .double(let double): return CELExpr(.literal(.double(double)), at: token.offset)
        case .string(let string): return CELExpr(.literal(.string(string)), at: token.offset)
        case .bytes(let bytes): return CELExpr(.literal(.bytes(bytes)), at: token.offset)
        case .identifier(let name):
            return try parseIdentifier(name, at: token.offset)
        case .punctuation("."):
            // A leading dot names the root scope: `.x` is the global `x`. The tree keeps no mark
            // of the dot, so inside a macro whose variable is `x` it still finds the variable.
            let name = advance()
            guard case .identifier(let identifier) = name.kind else {
                throw fault("expected an identifier after '.' but found \(describe(name))", at: name.offset)
            }
            return try parseIdentifier(identifier, at: token.offset)
        case .punctuation("("):
            let inner = try parseExpression()
            try expect(")")
            return inner
        case .punctuation("["):
            try nest()
            defer { depth -= 1 }
            return try node(.list(try parseArguments(closing: "]")), at: token.offset)
        case .punctuation("{"):
            try nest()
            defer { depth -= 1 }
            return try node(.map(try parseMapEntries()), at: token.offset)
        default:
            throw fault("expected an expression but found \(describe(token))", at: token.offset)
        }
    }

    private mutating func parseIdentifier(_ name: String, at offset: Int) throws(CELCompileError) -> CELExpr {
        switch name {
        case "true": return CELExpr(.literal(.bool(true)), at: offset)
        case "false": return CELExpr(.literal(.bool(false)), at: offset)
        case "null": return CELExpr(.literal(.null), at: offset)
        default: break
        }
        guard !Self.reserved.contains(name) else {
            throw fault("'\(name)' is a reserved word and cannot be used as a name", at: offset)
        }
        if accept("(") {
            let arguments = try parseArguments(closing: ")")
            return try globalCall(name, arguments: arguments, at: offset)
        }
        if isPunctuation("{") {
            throw fault("object construction ('\(name){…}') is not supported", at: current.offset)
        }
        return CELExpr(.identifier(name), at: offset)
    }

    private mutating func parseMapEntries() throws(CELCompileError) -> [CELExpr.MapEntry] {
        var entries: [CELExpr.MapEntry] = []
        if accept("}") { return entries }
        while true {
            let key = try parseExpression()
            try expect(":")
            let value = try parseExpression()
            entries.append(CELExpr.MapEntry(key: key, value: value))
            if accept("}") { return entries }
            try expect(",", or: "}")
            if accept("}") { return entries }
        }
    }

    // MARK: Macros

    private func globalCall(_ name: String, arguments: [CELExpr], at offset: Int) throws(CELCompileError) -> CELExpr {
        guard name == "has" else {
            return try node(.call(function: name, target: nil, arguments: arguments), at: offset)
        }
        guard arguments.count == 1, case .select(let operand, let field, false) = arguments[0].kind else {
            throw fault("has() needs one field selection, such as has(member.birthday)", at: offset)
        }
        // At the field, like any selection, so that "no field" points at the field's name.
        return try node(.select(operand: operand, field: field, test: true), at: arguments[0].offset)
    }

    private func receiverCall(
        _ name: String, target: CELExpr, arguments: [CELExpr], at offset: Int
    ) throws(CELCompileError) -> CELExpr {
        let macro: CELExpr.Comprehension.Macro? = switch (name, arguments.count) {
        case ("all", 2): .all
        case ("exists", 2): .exists
        case ("exists_one", 2): .existsOne
        case ("map", 2), ("map", 3): .map
        case ("filter", 2): .filter
        default: nil
        }
        guard let macro else {
            return try node(.call(function: name, target: target, arguments: arguments), at: offset)
        }
        guard case .identifier(let variable) = arguments[0].kind else {
            throw fault("the first argument of \(name)() must be a variable name", at: arguments[0].offset)
        }
        let comprehension = CELExpr.Comprehension(
            macro: macro, range: target, variable: variable, body: arguments[1],
            transform: arguments.count == 3 ? arguments[2] : nil)
        return try node(.comprehension(comprehension), at: offset)
    }
}

extension CELSourcePosition {
    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}
