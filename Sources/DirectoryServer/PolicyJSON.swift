/// The JSON body of one Dovecot policy request, read without Foundation's JSONDecoder, which
/// was the largest single cost of a report in the policy benchmark's profile.
///
/// Strict RFC 8259: one object at the top (whitespace around it), UTF-8 text, strings with
/// the standard escapes (a `\u` surrogate must be a pair), numbers in JSON's grammar. Values are
/// kept as strings, booleans and null; anything else (numbers, objects, arrays, which Dovecot
/// does not send for the fields read) is checked and kept as ``Value/other``. A repeated key keeps
/// its last value. Nesting deeper than ``maxDepth`` is refused.
enum PolicyJSON {
    enum Value: Sendable, Hashable {
        case string(String)
        case bool(Bool)
        case null
        case other
    }

    struct Malformed: Error, Hashable {}

    static let maxDepth = 32

    /// The members of the top-level object.
    static func object(_ bytes: [UInt8]) throws(Malformed) -> [String: Value] {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else { throw Malformed() }
        let members = try parser.object(depth: 1)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw Malformed() }
        return members
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(Malformed) {
            guard peek() == byte else { throw Malformed() }
            index += 1
        }

        /// At `{`: the members, keeping values only at the top (`depth` 1).
        mutating func object(depth: Int) throws(Malformed) -> [String: Value] {
            guard depth <= PolicyJSON.maxDepth else { throw Malformed() }
            try expect(UInt8(ascii: "{"))
            var members: [String: Value] = [:]
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return members
            }
            while true {
                skipWhitespace()
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let value = try value(depth: depth)
                if depth == 1 { members[key] = value }
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return members
                default: throw Malformed()
                }
            }
        }

        mutating func array(depth: Int) throws(Malformed) {
            guard depth <= PolicyJSON.maxDepth else { throw Malformed() }
            try expect(UInt8(ascii: "["))
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                _ = try value(depth: depth)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw Malformed()
                }
            }
        }

        mutating func value(depth: Int) throws(Malformed) -> Value {
            guard let first = peek() else { throw Malformed() }
            switch first {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "{"):
                _ = try object(depth: depth + 1)
                return .other
            case UInt8(ascii: "["):
                try array(depth: depth + 1)
                return .other
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number()
                return .other
            default: throw Malformed()
            }
        }

        mutating func literal(_ word: StaticString) throws(Malformed) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw Malformed() }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw Malformed() }
            index += count
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number() throws(Malformed) {
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), isDigit(first) else { throw Malformed() }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard let digit = peek(), isDigit(digit) else { throw Malformed() }
                skipDigits()
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard let digit = peek(), isDigit(digit) else { throw Malformed() }
                skipDigits()
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

        mutating func skipDigits() {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }

        /// At `"`: the decoded string.
        mutating func string() throws(Malformed) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            var runStart = index
            while true {
                guard let byte = peek() else { throw Malformed() }
                switch byte {
                case UInt8(ascii: "\""):
                    let run = bytes[runStart..<index]
                    index += 1
                    // Invalid UTF-8 is refused, not repaired. Without escapes (Dovecot's usual
                    // request) the bytes are validated where they are, with no copy first.
                    let text = out.isEmpty ? String(validating: run, as: UTF8.self) : String(validating: out + run, as: UTF8.self)
                    guard let text else { throw Malformed() }
                    return text
                case UInt8(ascii: "\\"):
                    out.append(contentsOf: bytes[runStart..<index])
                    index += 1
                    try escape(into: &out)
                    runStart = index
                case 0x00..<0x20:
                    throw Malformed()
                default:
                    index += 1
                }
            }
        }

        /// After `\`: one escape, appended as UTF-8.
        mutating func escape(into out: inout [UInt8]) throws(Malformed) {
            guard let byte = peek() else { throw Malformed() }
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate: its low half must follow as another \u escape.
                    try expect(UInt8(ascii: "\\"))
                    try expect(UInt8(ascii: "u"))
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw Malformed() }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw Malformed()
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Malformed() }
                UTF8.encode(unicode) { out.append($0) }
            default:
                throw Malformed()
            }
        }

        mutating func hex4() throws(Malformed) -> UInt32 {
            guard index + 4 <= bytes.count else { throw Malformed() }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw Malformed()
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }
    }
}
