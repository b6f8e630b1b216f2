import Foundation
import LDAPClient

/// One content record of an LDIF file (RFC 2849): an entry to add.
public struct LDIFRecord: Sendable, Hashable {
    public var dn: String
    /// In file order; repeated lines of one attribute are merged into its values.
    public var attributes: [LDAPAttribute]

    public init(dn: String, attributes: [LDAPAttribute]) {
        self.dn = dn
        self.attributes = attributes
    }
}

public struct LDIFError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based line of the input where the faulty logical line starts.
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "LDIF line \(line): \(reason)" }
}

/// A small reader for LDIF content records, so templates such as `schema/slapd/base.ldif` and
/// imports go through LDAPClient rather than through `ldapadd`.
///
/// Handles comments (with their continuation lines), folded lines, `::` base64 values,
/// `version: 1` and `changetype: add`. Other change records and `:<` URL values are refused:
/// silently ignoring them would load something other than what the file says.
public enum LDIF {
    public static func parse(_ text: String) throws(LDIFError) -> [LDIFRecord] {
        var records: [LDIFRecord] = []
        var block: [LogicalLine] = []
        var isFirstBlock = true
        for line in unfold(text) + [LogicalLine(number: 0, text: "")] {
            if !line.text.isEmpty {
                block.append(line)
                continue
            }
            if block.isEmpty { continue }
            if isFirstBlock, let first = block.first, isVersionLine(first.text) {
                block.removeFirst()
            }
            isFirstBlock = false
            if !block.isEmpty { records.append(try record(block)) }
            block = []
        }
        return records
    }

    struct LogicalLine {
        var number: Int
        var text: String
    }

    /// Joins continuation lines (a leading space) and drops comments, keeping empty lines as
    /// record separators.
    static func unfold(_ text: String) -> [LogicalLine] {
        var lines: [LogicalLine] = []
        var current: LogicalLine?
        var inComment = false
        func flush() {
            if let line = current, !inComment { lines.append(line) }
            current = nil
            inComment = false
        }
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.hasPrefix(" "), current != nil || inComment {
                current?.text += line.dropFirst()
                continue
            }
            flush()
            if line.hasPrefix("#") {
                inComment = true
                current = LogicalLine(number: index + 1, text: "")
            } else if line.isEmpty {
                lines.append(LogicalLine(number: index + 1, text: ""))
            } else {
                current = LogicalLine(number: index + 1, text: String(line))
            }
        }
        flush()
        return lines
    }

    static func isVersionLine(_ text: String) -> Bool {
        guard let (name, _) = try? split(LogicalLine(number: 0, text: text)) else { return false }
        return name.lowercased() == "version"
    }

    static func record(_ lines: [LogicalLine]) throws(LDIFError) -> LDIFRecord {
        let (dnName, dnValue) = try split(lines[0])
        guard dnName.lowercased() == "dn" else {
            throw LDIFError(line: lines[0].number, reason: "a record must start with `dn:`, found `\(dnName):`")
        }
        guard let dn = String(validating: dnValue, as: UTF8.self) else {
            throw LDIFError(line: lines[0].number, reason: "the DN is not valid UTF-8")
        }
        var attributes: [LDAPAttribute] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            let (name, value) = try split(line)
            switch name.lowercased() {
            case "changetype" where offset == 0:
                guard String(decoding: value, as: UTF8.self).lowercased() == "add" else {
                    throw LDIFError(line: line.number, reason: "only content records and `changetype: add` are supported")
                }
                continue
            case "changetype", "control", "dn":
                throw LDIFError(line: line.number, reason: "unexpected `\(name):` inside a content record")
            default:
                break
            }
            if let index = attributes.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) {
                attributes[index].values.append(value)
            } else {
                attributes.append(LDAPAttribute(name: name, values: [value]))
            }
        }
        return LDIFRecord(dn: dn, attributes: attributes)
    }

    /// `name: value`, `name:: base64` → the attribute description and the value's bytes.
    static func split(_ line: LogicalLine) throws(LDIFError) -> (String, [UInt8]) {
        guard let colon = line.text.firstIndex(of: ":") else {
            throw LDIFError(line: line.number, reason: "expected `name: value`")
        }
        let name = String(line.text[..<colon])
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ";" || $0 == ".") }) else {
            throw LDIFError(line: line.number, reason: "`\(name)` is not an attribute description")
        }
        var rest = line.text[line.text.index(after: colon)...]
        switch rest.first {
        case ":":
            rest = rest.dropFirst().drop(while: { $0 == " " })
            guard let data = Data(base64Encoded: String(rest)) else {
                throw LDIFError(line: line.number, reason: "the value of `\(name)` is not valid base64")
            }
            return (name, Array(data))
        case "<":
            throw LDIFError(line: line.number, reason: "URL values (`\(name):<`) are not supported")
        default:
            return (name, Array(rest.drop(while: { $0 == " " }).utf8))
        }
    }
}
