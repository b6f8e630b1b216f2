import Foundation

/// The schema and slapd configuration templates of `schema/`, shipped as SwiftPM resources so
/// an installed `gwdir` needs no checkout.
public enum DirectorySchema {
    /// The folder holding `gwdir.schema`, `gwdir.ldif` and `slapd/`.
    public static var directory: URL {
        Bundle.module.resourceURL ?? Bundle.module.bundleURL
    }

    public static func url(_ relativePath: String) -> URL {
        directory.appendingPathComponent(relativePath)
    }

    public static func template(_ relativePath: String) throws -> String {
        try String(contentsOf: url(relativePath), encoding: .utf8)
    }

    /// Replaces every `{{NAME}}` with its value; fails on a placeholder left unfilled, so a
    /// template and its caller cannot drift apart silently.
    public static func render(_ template: String, _ values: [String: String]) throws -> String {
        // LDIF comment lines document the placeholders; they are dropped, not filled.
        var output = template.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("#") }
            .joined(separator: "\n")
        for (name, value) in values {
            output = output.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        if let range = output.range(of: #"\{\{[A-Z_]+\}\}"#, options: .regularExpression) {
            throw TemplateError(placeholder: String(output[range]))
        }
        return output
    }

    public struct TemplateError: Error, CustomStringConvertible {
        public var placeholder: String
        public var description: String { "the slapd template needs a value for \(placeholder)" }
    }
}
