import Foundation

/// The Postfix and Dovecot templates of `docker/postfix` and `docker/dovecot`, shipped as SwiftPM
/// resources so an installed `gwdir` renders them (`gwdir mail-config render`) without a
/// checkout. They are the very files the containers (`docker/mail-entrypoint.sh`) and the
/// mail-server tests render.
public enum MailConfigTemplates {
    /// The folder holding `postfix/` and `dovecot/`.
    public static var directory: URL {
        Bundle.module.resourceURL ?? Bundle.module.bundleURL
    }

    /// The regular files of `postfix` or `dovecot`, sorted by name.
    public static func files(in folder: String) throws -> [String] {
        let url = directory.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: url.path).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }.sorted()
    }

    public static func template(_ relativePath: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// Renders as `docker/mail-entrypoint.sh` does: comment lines (which document the
    /// placeholders) are dropped, every `{{NAME}}` is replaced, and a placeholder left without a
    /// value is an error naming it.
    public static func render(_ template: String, _ values: [String: String]) throws -> String {
        var output = template.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") }
            .joined(separator: "\n")
        for (name, value) in values {
            output = output.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        if let range = output.range(of: #"\{\{[A-Z0-9_]+\}\}"#, options: .regularExpression) {
            throw TemplateError(placeholder: String(output[range]))
        }
        return output
    }

    /// The placeholders a template uses outside comment lines.
    public static func placeholders(_ template: String) -> Set<String> {
        var names: Set<String> = []
        for line in template.split(separator: "\n") where !line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") {
            var rest = line[...]
            while let range = rest.range(of: #"\{\{[A-Z0-9_]+\}\}"#, options: .regularExpression) {
                names.insert(String(rest[range].dropFirst(2).dropLast(2)))
                rest = rest[range.upperBound...]
            }
        }
        return names
    }

    public struct TemplateError: Error, CustomStringConvertible {
        public var placeholder: String
        public var description: String { "the mail template needs a value for \(placeholder)" }
    }
}
