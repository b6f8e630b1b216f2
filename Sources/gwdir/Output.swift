import ArgumentParser
import Foundation

/// How results are printed; `json` is for scripts and stays stable across versions.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, csv
}

/// `--format`, shared by every command that prints results.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    /// Prints a report to stdout in the chosen format.
    func print(_ report: Report) {
        Swift.print(report.rendered(as: format), terminator: "")
    }
}

/// One printable value; typed so JSON keeps numbers and booleans.
enum OutputValue: Sendable, Equatable, ExpressibleByStringLiteral {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case list([String])
    case null

    init(stringLiteral value: String) { self = .string(value) }

    init(_ value: String?) { self = value.map(OutputValue.string) ?? .null }

    var text: String {
        switch self {
        case .string(let value): value
        case .integer(let value): String(value)
        case .bool(let value): value ? "yes" : "no"
        case .list(let values): values.joined(separator: ", ")
        case .null: ""
        }
    }

    var json: String {
        switch self {
        case .string(let value): Self.jsonString(value)
        case .integer(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .list(let values): "[" + values.map(Self.jsonString).joined(separator: ",") + "]"
        case .null: "null"
        }
    }

    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A command's result, independent of the output format: one record (`status`, `whoami`) or a
/// list of rows (`user find`). Columns keep their order in every format.
struct Report: Sendable {
    enum Shape: Sendable { case record, list }

    var shape: Shape
    var columns: [String]
    var rows: [[OutputValue]]

    static func record(_ fields: KeyValuePairs<String, OutputValue>) -> Report {
        Report(shape: .record, columns: fields.map(\.key), rows: [fields.map(\.value)])
    }

    static func list(columns: [String], rows: [[OutputValue]]) -> Report {
        Report(shape: .list, columns: columns, rows: rows)
    }

    func rendered(as format: OutputFormat) -> String {
        switch format {
        case .table: table()
        case .json: json() + "\n"
        case .csv: csv()
        }
    }

    /// A record prints as aligned `name  value` lines; a list as columns under a header.
    private func table() -> String {
        if shape == .record {
            let width = columns.map(Self.displayWidth).max() ?? 0
            return zip(columns, rows.first ?? []).map { name, value in
                Self.pad(name, to: width) + "  " + value.text + "\n"
            }.joined()
        }
        let cells = [columns.map { $0.uppercased() }] + rows.map { $0.map(\.text) }
        let widths = columns.indices.map { column in cells.map { Self.displayWidth($0[column]) }.max() ?? 0 }
        return cells.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : Self.pad(cell, to: widths[index])
            }.joined(separator: "  ") + "\n"
        }.joined()
    }

    private func json() -> String {
        func object(_ row: [OutputValue]) -> String {
            "{" + zip(columns, row).map { "\(OutputValue.jsonString($0)):\($1.json)" }.joined(separator: ",") + "}"
        }
        return shape == .record ? object(rows.first ?? []) : "[" + rows.map(object).joined(separator: ",") + "]"
    }

    /// RFC 4180: quoted when needed, CRLF line ends (what Excel expects).
    private func csv() -> String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) || text.hasPrefix(" ") || text.hasSuffix(" ")
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                : text
        }
        return ([columns] + rows.map { $0.map(\.text) }).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    /// Terminal columns: Hangul and other East Asian wide characters take two.
    static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { width, scalar in
            switch scalar.value {
            case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F,
                 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD: width + 2
            case 0x0300...0x036F, 0x200B...0x200F: width
            default: width + 1
            }
        }
    }

    static func pad(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - displayWidth(text)))
    }
}
