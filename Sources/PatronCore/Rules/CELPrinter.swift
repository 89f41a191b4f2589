/// Writes a syntax tree back as CEL source, with the fewest parentheses that keep its shape:
/// parsing the printed text gives the same tree.
extension CELExpr: CustomStringConvertible {
    public var description: String {
        var output = ""
        print(into: &output)
        return output
    }

    private enum Precedence: Int, Comparable {
        case conditional = 1, or, and, relation, addition, multiplication, unary, member

        static func < (lhs: Precedence, rhs: Precedence) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private static let binary: [String: (text: String, precedence: Precedence)] = [
        "_==_": ("==", .relation), "_!=_": ("!=", .relation), "_<_": ("<", .relation),
        "_<=_": ("<=", .relation), "_>_": (">", .relation), "_>=_": (">=", .relation),
        "@in": ("in", .relation), "_+_": ("+", .addition), "_-_": ("-", .addition),
        "_*_": ("*", .multiplication), "_/_": ("/", .multiplication), "_%_": ("%", .multiplication),
    ]

    private var precedence: Precedence {
        switch kind {
        case .literal(.int(let int)) where int < 0: return .unary
        case .literal(.double(let double)) where double.sign == .minus: return .unary
        case .call(let function, nil, let arguments):
            switch function {
            case "_?_:_": return .conditional
            case "_||_": return .or
            case "_&&_": return .and
            case "!_", "-_": return .unary
            case "_[_]": return .member
            default:
                if arguments.count == 2, let binary = Self.binary[function] { return binary.precedence }
                return .member
            }
        default:
            return .member
        }
    }

    private func print(into output: inout String) {
        switch kind {
        case .literal(let value):
            output += value.literal
        case .identifier(let name):
            output += name
        case .select(let operand, let field, let test):
            if test { output += "has(" }
            operand.print(into: &output, parenthesizedBelow: .member)
            output += "."
            output += Self.isPlainName(field) ? field : "`\(field)`"
            if test { output += ")" }
        case .list(let elements):
            output += "["
            printList(elements, into: &output)
            output += "]"
        case .map(let entries):
            output += "{"
            for (position, entry) in entries.enumerated() {
                if position > 0 { output += ", " }
                entry.key.print(into: &output)
                output += ": "
                entry.value.print(into: &output)
            }
            output += "}"
        case .comprehension(let comprehension):
            comprehension.range.print(into: &output, parenthesizedBelow: .member)
            output += ".\(comprehension.macro.rawValue)(\(comprehension.variable), "
            comprehension.body.print(into: &output)
            if let transform = comprehension.transform {
                output += ", "
                transform.print(into: &output)
            }
            output += ")"
        case .call(let function, let target, let arguments):
            printCall(function, target: target, arguments: arguments, into: &output)
        }
    }

    private func printCall(_ function: String, target: CELExpr?, arguments: [CELExpr], into output: inout String) {
        if let target {
            target.print(into: &output, parenthesizedBelow: .member)
            output += ".\(function)("
            printList(arguments, into: &output)
            output += ")"
            return
        }
        switch function {
        case "_?_:_" where arguments.count == 3:
            arguments[0].print(into: &output, parenthesizedBelow: .or)
            output += " ? "
            arguments[1].print(into: &output, parenthesizedBelow: .or)
            output += " : "
            arguments[2].print(into: &output, parenthesizedBelow: .conditional)
        case "_||_", "_&&_":
            let (text, own): (String, Precedence) = function == "_||_" ? (" || ", .or) : (" && ", .and)
            for (position, argument) in arguments.enumerated() {
                if position > 0 { output += text }
                argument.print(into: &output, parenthesizedBelow: Precedence(rawValue: own.rawValue + 1)!)
            }
        case "!_" where arguments.count == 1, "-_" where arguments.count == 1:
            let operand = arguments[0]
            output += function == "!_" ? "!" : "-"
            operand.print(into: &output, parenthesized: operand.needsParentheses(under: function))
        case "_[_]" where arguments.count == 2:
            arguments[0].print(into: &output, parenthesizedBelow: .member)
            output += "["
            arguments[1].print(into: &output)
            output += "]"
        default:
            if arguments.count == 2, let binary = Self.binary[function] {
                arguments[0].print(into: &output, parenthesizedBelow: binary.precedence)
                output += " \(binary.text) "
                arguments[1].print(into: &output, parenthesizedBelow: Precedence(rawValue: binary.precedence.rawValue + 1)!)
            } else {
                output += "\(function)("
                printList(arguments, into: &output)
                output += ")"
            }
        }
    }

    /// Whether this operand of `!_` or `-_` needs parentheses to parse back as the same tree: when
    /// it binds more loosely; when it starts with the other unary operator, which the grammar does
    /// not mix with this one (`!(-x)`, `!(-1)`, `-(!x)`); and, under `-`, when it is a number that
    /// would otherwise read as a negative literal (`-(1)` is a negation, `-1` a literal).
    private func needsParentheses(under function: String) -> Bool {
        if precedence < .unary { return true }
        switch kind {
        case .call(let inner, nil, _) where inner == "!_" || inner == "-_":
            return inner != function
        case .literal(.int), .literal(.double):
            // A negative number prints as `-…`: the other operator under `!`, and under `-` one
            // more of the same, which parses back as the same tree (`--1`).
            let isNegative = precedence == .unary
            return function == "!_" ? isNegative : !isNegative
        default:
            return false
        }
    }

    private func printList(_ elements: [CELExpr], into output: inout String) {
        for (position, element) in elements.enumerated() {
            if position > 0 { output += ", " }
            element.print(into: &output)
        }
    }

    private func print(into output: inout String, parenthesizedBelow minimum: Precedence) {
        print(into: &output, parenthesized: precedence < minimum)
    }

    private func print(into output: inout String, parenthesized: Bool) {
        if parenthesized { output += "(" }
        print(into: &output)
        if parenthesized { output += ")" }
    }

    private static func isPlainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isIdentifierStart else { return false }
        return name.unicodeScalars.allSatisfy(\.isIdentifierContinue)
    }
}
