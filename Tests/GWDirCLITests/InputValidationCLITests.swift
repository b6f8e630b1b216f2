import Foundation
import LDAPClient
import Testing
import TestSupport

/// Security issue 11, item 3 ("client robustness"), through the built binary: malformed
/// names, numbers and times are usage errors (exit 2, one line naming the field) that leave
/// the directory unchanged, and Korean alias folders work.
@Suite struct InputValidationCLITests {
    @Test func badNamesAreUsageErrors() async throws {
        let world = try AdminWorld.withUnits("names")
        defer { world.cli.cleanUp() }
        let ws = world.workspace
        try await world.fails(["unit", "add", "..", "--workspace", ws], status: 2, "unit name must not be \"..\"")
        try await world.fails(["unit", "add", ".", "--workspace", ws, "--parent", "sales"], status: 2, "unit name must not be \".\"")
        try await world.fails(["unit", "rename", "sales", "..", "--workspace", ws], status: 2, "unit name")
        try await world.fails(["unit", "add", "x\u{FFFD}", "--workspace", ws], status: 2, "unit name contains U+FFFD")
        try await world.fails(["unit", "add", "ok", "--workspace", ws, "--display-name", "a\u{1B}[2J"], status: 2, "unit display name")
        try await world.fails(["workspace", "edit", ws, "--name", "  "], status: 2, "workspace name must not be empty")

        let password = try world.file("pw", "pw-secret")
        func add(first: String = "Sam", last: String = "Park", extra: [String] = []) -> [String] {
            ["user", "add", "sam", "--workspace", ws, "--unit", "sales", "--first-name", first, "--last-name", last,
             "--mail", world.mail("sam"), "--password-file", password] + extra
        }
        try await world.fails(add(first: ""), status: 2, "first name must not be empty")
        try await world.fails(add(last: " "), status: 2, "last name must not be empty")
        try await world.fails(add(first: String(repeating: "가", count: 10_000)), status: 2, "first name is 10000 characters long; at most 128")
        try await world.fails(add(last: "Park\u{FFFD}"), status: 2, "last name contains U+FFFD")
        try await world.fails(add(first: "Sam\nEvil"), status: 2, "first name must not contain")
        try await world.fails(add(extra: ["--display-name", "\u{202E}kraP"]), status: 2, "display name")
        try await world.fails(["user", "add", String(repeating: "a", count: 65)] + add().dropFirst(3), status: 2, "login id is 65 characters long")
        try await world.fails(["user", "add", ".."] + add().dropFirst(3), status: 2, "login id must not be \"..\"")
        try await world.fails(["group", "add", world.mail("team"), "--workspace", ws, "--unit", "sales", "--display-name", "\u{7}"],
                              status: 2, "display name")

        // The same account with good names is added, and its names can not be cleared.
        try world.ok(add(first: " 샘 ", last: "박"))
        let shown = try world.record(["user", "show", world.mail("sam")])
        #expect(shown["firstName"] as? String == "샘", "\(shown)")
        try await world.fails(["user", "edit", world.mail("sam"), "--first-name", ""], status: 2, "first name must not be empty")
        try await world.fails(["user", "edit", world.mail("sam"), "--display-name", String(repeating: "x", count: 129)], status: 2,
                              "display name is 129 characters long")
    }

    /// Bytes that are not UTF-8 reach gwdir as U+FFFD (Swift repairs argv), and are refused.
    @Test func invalidUTF8BytesInAnArgumentAreRefused() async throws {
        let world = try AdminWorld.withUnits("utf8")
        defer { world.cli.cleanUp() }
        let binary = try #require(CLI.binary)
        let before = try await world.snapshot()
        let output = try runChild("/bin/sh", ["-c", "exec \"$0\" unit add \"$(printf 'bad\\377\\376name')\" --workspace \"$1\"", binary.path, world.workspace],
                                  environment: world.environment, in: world.cli.directory)
        #expect(output.status == 2, "\(output)")
        #expect(output.stderr.hasPrefix("gwdir: error: unit name contains U+FFFD"), "\(output.stderr)")
        #expect(try await world.snapshot() == before)
    }

    @Test func badNumbersAreUsageErrorsWithAClearMessage() async throws {
        let world = try AdminWorld.withUnits("numbers")
        defer { world.cli.cleanUp() }
        let password = try world.file("pw", "pw-secret")
        let add = ["user", "add", "neg", "--workspace", world.workspace, "--unit", "sales", "--first-name", "Ne", "--last-name", "Gative",
                   "--mail", world.mail("neg"), "--password-file", password]
        // `-1` after a space would be a flag to ArgumentParser ("Missing value"); it is the value.
        try await world.fails(add + ["--quota", "-1"], status: 2, "quota must not be negative")
        try await world.fails(add + ["--quota=-1"], status: 2, "quota must not be negative")
        try await world.fails(add + ["--quota", "-5G"], status: 2, "quota must not be negative")
        try await world.fails(add + ["--quota", "99999999999999999999"], status: 2, "is too large")
        try await world.fails(add + ["--quota", "lots"], status: 2, "is not a size")
        try world.ok(add + ["--quota", "1G"])
        try await world.fails(["user", "edit", world.mail("neg"), "--quota", "-1"], status: 2, "quota must not be negative")
        try await world.fails(["shared", "add", world.mail("box"), "--workspace", world.workspace, "--unit", "sales", "--quota", "-1"],
                              status: 2, "quota must not be negative")

        let cli = world.cli
        for (arguments, message) in [
            (["audit", "list", "--limit", "-1"], "--limit must not be negative"),
            (["audit", "list", "--limit", "0"], "--limit must be a whole number from 1 to 1000000"),
            (["audit", "list", "--limit", "99999999999999999999999"], "--limit must be a whole number"),
            (["audit", "purge", "--days", "-3"], "--days must not be negative"),
            (["audit", "purge", "--days", "0"], "--days must be a whole number from 1 to 36525"),
            (["audit", "purge", "--days", "9223372036854775808"], "--days must be a whole number"),
        ] {
            let output = try cli.run(arguments, environment: world.environment)
            #expect(output.status == 2, "\(arguments): \(output.stderr)")
            #expect(output.stderr.hasPrefix("gwdir: error: \(message)"), "\(arguments): \(output.stderr)")
        }
    }

    @Test func auditTimesOutOfRangeAreUsageErrors() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        // Refused before connecting: the address is unreachable on purpose.
        let environment = ["GWDIR_URI": "ldap://127.0.0.1:1", "GWDIR_BASE": "dc=example,dc=com"]
        for (arguments, message) in [
            (["--since", "750000d"], "is longer than 100 years"),
            (["--until", "99999999999999999999999h"], "is longer than 100 years"),
            (["--since", "1969-12-31"], "is outside 1970-01-01"),
            (["--since", "0001-01-01T00:00:00Z"], "is outside 1970-01-01"),
            (["--since", "-5d"], "is not a time"),
        ] {
            let output = try cli.run(["audit", "list"] + arguments, environment: environment)
            #expect(output.status == 2, "\(arguments): \(output.stderr)")
            #expect(output.stderr.hasPrefix("gwdir: error: "), "\(arguments): \(output.stderr)")
            #expect(output.stderr.contains(message), "\(arguments): \(output.stderr)")
        }
    }

    @Test func koreanAliasFoldersWork() async throws {
        let world = try AdminWorld.withUnits("folder")
        defer { world.cli.cleanUp() }
        try world.addUser("minjun", unit: "sales", first: "민준", last: "김")
        try world.ok(["alias", "add", world.mail("minjun"), world.mail("sales-kr"), "--folder", "영업부"])
        let aliases = try world.rows(["alias", "list", world.mail("minjun")])
        #expect(aliases.first?["folder"] as? String == "영업부", "\(aliases)")
        // The alias stays the LMTP recipient; Dovecot files it by gwAliasFolder (issue 12).
        #expect(aliases.first?["deliverTo"] as? String == world.mail("sales-kr"), "\(aliases)")
        // What would break the mail store or an IMAP client is still refused.
        for bad in ["../inbox", ".hidden", "a  b", "a+b", "a/b", "x\u{FFFD}", String(repeating: "영", count: 65)] {
            try await world.fails(["alias", "add", world.mail("minjun"), world.mail("other"), "--folder", bad], status: 2, "folder")
        }
    }
}
