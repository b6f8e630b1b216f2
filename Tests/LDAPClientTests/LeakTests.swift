import Foundation
import LocalSlapd
import Testing
import TestSupport

/// Runs the `ldap-leak-check` workload built with AddressSanitizer; LeakSanitizer reports every
/// block still unreachable at exit, including those libldap allocated (malloc is intercepted).
/// valgrind 3.19 cannot read Swift 6.3's DWARF and crashes, hence LeakSanitizer.
@Suite(.serialized) struct LeakTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Builds the workload with `--sanitize=address` in a scratch folder of its own.
    static func buildLeakCheck() throws -> URL {
        let scratch = packageRoot.appendingPathComponent(".build-asan")
        try SlapdInstance.run("/usr/bin/env", [
            "swift", "build", "--package-path", packageRoot.path, "--scratch-path", scratch.path,
            "--product", "ldap-leak-check", "--sanitize=address",
        ])
        return scratch.appendingPathComponent("debug/ldap-leak-check")
    }

    @Test(.timeLimit(.minutes(10))) func noLibldapObjectLeaks() throws {
        let binary = try Self.buildLeakCheck()
        let slapd = try TestSlapd.shared()
        let process = Process()
        process.executableURL = binary
        process.arguments = [slapd.uri, slapd.ldapiURI, slapd.rootDN, slapd.rootPassword, TestSlapd.baseDN]
        var environment = ProcessInfo.processInfo.environment
        environment["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=23"
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(text.contains("leak check workload done"), "the workload did not finish:\n\(text.suffix(3000))")
        #expect(!text.contains("ERROR: LeakSanitizer"), "leaks:\n\(text.suffix(6000))")
        #expect(!text.contains("ERROR: AddressSanitizer"), "memory error:\n\(text.suffix(6000))")
        #expect(process.terminationStatus == 0)
    }
}
