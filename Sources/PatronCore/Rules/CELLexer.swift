/// Splits CEL source into tokens. Works on Unicode scalars so positions count characters the way
/// operators see them.
struct CELLexer {
    struct Token {
        enum Kind: Equatable {
            /// An integer literal's magnitude; the sign is the parser's.
            case int(UInt64)
            /// `9223372036854775808`, which is an int only after a unary minus.
            case intMinMagnitude
            case uint(UInt64)
            case double(Double)
            case string(String)
            case bytes([UInt8])
            case identifier(String)
            /// A field name in backquotes: `` `content-type` ``.
            case quotedIdentifier(String)
            case punctuation(String)
            case end
        }

        var kind: Kind
        var offset: Int
    }

    private let scalars: [Unicode.Scalar]
    private var position = 0

    init(_ source: String) {
        self.scalars = Array(source.unicodeScalars)
    }

    /// Every token of the source, ending with `.end`.
    mutating func tokens() throws(CELCompileError) -> [Token] {
        var tokens: [Token] = []
        while true {
            let token = try next(previous: tokens.last?.kind)
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        position + ahead < scalars.count ? scalars[position + ahead] : nil
    }

    private func fault(_ message: String, at offset: Int) -> CELCompileError {
        CELCompileError(message, at: CELSourcePosition(offset: offset, in: String(String.UnicodeScalarView(scalars))))
    }

    private mutating func next(previous: Token.Kind?) throws(CELCompileError) -> Token {
        skipSpaceAndComments()
        let start = position
        guard let scalar = peek() else { return Token(kind: .end, offset: start) }

        if scalar.isDigit || (scalar == "." && peek(1)?.isDigit == true && !Self.endsOperand(previous)) {
            return Token(kind: try number(), offset: start)
        }
        if scalar == "\"" || scalar == "'" {
            return Token(kind: try text(raw: false, bytes: false, start: start), offset: start)
        }
        if scalar.isIdentifierStart {
            // A string prefix: r, b, rb, br in any case, directly followed by a quote.
            if let kind = try prefixedText() { return Token(kind: kind, offset: start) }
            while let next = peek(), next.isIdentifierContinue { position += 1 }
            return Token(kind: .identifier(String(String.UnicodeScalarView(scalars[start..<position]))), offset: start)
        }
        if scalar == "`" {
            position += 1
            let nameStart = position
            while let next = peek(), next != "`" {
                guard next.isIdentifierContinue || next == "." || next == "-" || next == "/" || next == " " else {
                    throw fault("invalid character \(Self.describe(next)) in quoted field name", at: position)
                }
                position += 1
            }
            guard peek() == "`" else { throw fault("unterminated quoted field name", at: start) }
            guard position > nameStart else { throw fault("empty quoted field name", at: start) }
            let name = String(String.UnicodeScalarView(scalars[nameStart..<position]))
            position += 1
            return Token(kind: .quotedIdentifier(name), offset: start)
        }
        if let text = punctuation(scalar) {
            position += text.unicodeScalars.count
            return Token(kind: .punctuation(text), offset: start)
        }
        throw fault("unexpected character \(Self.describe(scalar))", at: start)
    }

    /// A character for a message: `'#'`, `'∑' (U+2211)`, or just `U+0000` when it is invisible.
    private static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar.isASCII { return (0x21..<0x7F).contains(scalar.value) ? "'\(scalar)'" : code }
        let visible = !scalar.properties.isWhitespace && scalar.properties.generalCategory != .control
            && scalar.properties.generalCategory != .format && scalar.properties.generalCategory != .unassigned
        return visible ? "'\(scalar)' (\(code))" : code
    }

    /// The operator or punctuation that starts with `scalar` here, the longest that fits: `<=`, not `<`.
    private func punctuation(_ scalar: Unicode.Scalar) -> String? {
        let next = peek(1)
        switch scalar {
        case "=": return next == "=" ? "==" : nil
        case "&": return next == "&" ? "&&" : nil
        case "|": return next == "|" ? "||" : nil
        case "!", "<", ">": return next == "=" ? String(scalar) + "=" : String(scalar)
        case "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}": return String(scalar)
        default: return nil
        }
    }

    /// Whether the previous token ends an operand, after which `.5` is a selection, not a number.
    private static func endsOperand(_ kind: Token.Kind?) -> Bool {
        switch kind {
        // `in` is an operator spelt as a name: `x in .5` ends with a number.
        case .identifier(let name): name != "in"
        case .quotedIdentifier, .int, .uint, .double, .string, .bytes, .intMinMagnitude: true
        case .punctuation(let text): text == ")" || text == "]" || text == "}"
        default: false
        }
    }

    private mutating func skipSpaceAndComments() {
        while let scalar = peek() {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar == "\u{0C}" {
                position += 1
            } else if scalar == "/" && peek(1) == "/" {
                while let next = peek(), next != "\n" { position += 1 }
            } else {
                return
            }
        }
    }

    // MARK: Numbers

    private mutating func number() throws(CELCompileError) -> Token.Kind {
        let start = position
        if peek() == "0", let x = peek(1), x == "x" || x == "X" {
            position += 2
            let digitsStart = position
            while let next = peek(), next.isHexDigit { position += 1 }
            let digits = String(String.UnicodeScalarView(scalars[digitsStart..<position]))
            guard !digits.isEmpty else { throw fault("invalid hex literal", at: start) }
            return try integer(digits, radix: 16, start: start)
        }
        while let next = peek(), next.isDigit { position += 1 }
        var isDouble = false
        if peek() == ".", peek(1)?.isDigit == true {
            isDouble = true
            position += 1
            while let next = peek(), next.isDigit { position += 1 }
        }
        if let e = peek(), e == "e" || e == "E" {
            var ahead = 1
            if let sign = peek(1), sign == "+" || sign == "-" { ahead = 2 }
            if peek(ahead)?.isDigit == true {
                isDouble = true
                position += ahead
                while let next = peek(), next.isDigit { position += 1 }
            }
        }
        let text = String(String.UnicodeScalarView(scalars[start..<position]))
        if isDouble {
            if let next = peek(), next.isIdentifierContinue {
                throw fault("invalid number literal", at: start)
            }
            guard let double = Double(text), double.isFinite else {
                throw fault("double literal out of range", at: start)
            }
            return .double(double)
        }
        return try integer(text, radix: 10, start: start)
    }

    private mutating func integer(_ digits: String, radix: Int, start: Int) throws(CELCompileError) -> Token.Kind {
        let isUnsigned = peek() == "u" || peek() == "U"
        if isUnsigned { position += 1 }
        if let next = peek(), next.isIdentifierContinue {
            throw fault("invalid number literal", at: start)
        }
        guard let magnitude = UInt64(digits, radix: radix) else {
            throw fault("integer literal out of range", at: start)
        }
        if isUnsigned { return .uint(magnitude) }
        if magnitude == UInt64(Int64.max) + 1 { return .intMinMagnitude }
        guard magnitude <= UInt64(Int64.max) else { throw fault("integer literal out of range", at: start) }
        return .int(magnitude)
    }

    // MARK: Strings and bytes

    private mutating func prefixedText() throws(CELCompileError) -> Token.Kind? {
        func isQuote(_ scalar: Unicode.Scalar?) -> Bool { scalar == "\"" || scalar == "'" }
        func isRaw(_ scalar: Unicode.Scalar?) -> Bool { scalar == "r" || scalar == "R" }
        func isBytes(_ scalar: Unicode.Scalar?) -> Bool { scalar == "b" || scalar == "B" }
        let first = peek()
        guard isRaw(first) || isBytes(first) else { return nil }
        let start = position
        if isQuote(peek(1)) {
            position += 1
            return try text(raw: isRaw(first), bytes: isBytes(first), start: start)
        }
        let second = peek(1)
        guard (isRaw(first) && isBytes(second)) || (isBytes(first) && isRaw(second)), isQuote(peek(2)) else {
            return nil
        }
        position += 2
        return try text(raw: true, bytes: true, start: start)
    }

    /// A quoted literal from its opening quote; `start` is where the literal began, prefix included.
    private mutating func text(raw: Bool, bytes: Bool, start: Int) throws(CELCompileError) -> Token.Kind {
        let quote = peek()!
        let isTriple = peek(1) == quote && peek(2) == quote
        position += isTriple ? 3 : 1
        var output: [UInt8] = []
        func append(_ scalar: Unicode.Scalar) {
            output.append(contentsOf: Array(String(scalar).utf8))
        }
        while true {
            guard let scalar = peek() else { throw fault("unterminated string literal", at: start) }
            if scalar == quote && (!isTriple || (peek(1) == quote && peek(2) == quote)) {
                position += isTriple ? 3 : 1
                break
            }
            if !isTriple && (scalar == "\n" || scalar == "\r") {
                throw fault("unterminated string literal", at: start)
            }
            if scalar == "\\" && !raw {
                guard peek(1) != nil else { throw fault("unterminated string literal", at: start) }
                try escape(into: &output, bytes: bytes)
                continue
            }
            if raw && scalar == "\\", let next = peek(1), next == quote || next == "\\" {
                // In raw text a backslash still keeps the quote from ending the literal.
                append(scalar)
                append(next)
                position += 2
                continue
            }
            append(scalar)
            position += 1
        }
        if bytes { return .bytes(output) }
        guard let string = String(validating: output, as: UTF8.self) else {
            throw fault("invalid UTF-8 in string literal", at: start)
        }
        return .string(string)
    }

    /// An escape sequence, from its backslash; the caller has seen that a character follows it.
    private mutating func escape(into output: inout [UInt8], bytes: Bool) throws(CELCompileError) {
        let start = position
        let scalar = scalars[position + 1]
        position += 2
        let simple: [Unicode.Scalar: UInt8] = [
            "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
            "\\": 92, "?": 63, "\"": 34, "'": 39, "`": 96,
        ]
        if let byte = simple[scalar] {
            output.append(byte)
            return
        }
        switch scalar {
        case "x", "X":
            let value = try hexDigits(2, start: start)
            if bytes { output.append(UInt8(value)) } else { try appendCodePoint(value, to: &output, start: start) }
        case "u", "U":
            guard !bytes else { throw fault("\\\(scalar) escape is not allowed in bytes", at: start) }
            try appendCodePoint(try hexDigits(scalar == "u" ? 4 : 8, start: start), to: &output, start: start)
        case "0"..."3":
            var value = UInt32(scalar.value - 48)
            for _ in 0..<2 {
                guard let digit = peek(), ("0"..."7").contains(digit) else {
                    throw fault("invalid octal escape", at: start)
                }
                value = value * 8 + (digit.value - 48)
                position += 1
            }
            if bytes { output.append(UInt8(value)) } else { try appendCodePoint(value, to: &output, start: start) }
        default:
            let shown = (0x21..<0x7F).contains(scalar.value) ? "'\\\(scalar)'" : "'\\' followed by \(Self.describe(scalar))"
            throw fault("invalid escape sequence \(shown)", at: start)
        }
    }

    private mutating func hexDigits(_ count: Int, start: Int) throws(CELCompileError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let digit = peek(), let nibble = digit.hexValue else {
                throw fault("invalid hex escape", at: start)
            }
            value = value * 16 + nibble
            position += 1
        }
        return value
    }

    private func appendCodePoint(_ value: UInt32, to output: inout [UInt8], start: Int) throws(CELCompileError) {
        guard let scalar = Unicode.Scalar(value) else {
            throw fault("invalid code point in escape", at: start)
        }
        output.append(contentsOf: Array(String(scalar).utf8))
    }
}

extension Unicode.Scalar {
    var isDigit: Bool { ("0"..."9").contains(self) }
    var isHexDigit: Bool { hexValue != nil }
    var isIdentifierStart: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) || self == "_" }
    var isIdentifierContinue: Bool { isIdentifierStart || isDigit }

    var hexValue: UInt32? {
        switch self {
        case "0"..."9": value - 48
        case "a"..."f": value - 87
        case "A"..."F": value - 55
        default: nil
        }
    }
}
