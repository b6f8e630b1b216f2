import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// `SlapdInstance.run` (``ChildProcess/run(_:_:input:environment:workingDirectory:)``) feeds
/// stdin while it reads the output: megabytes each way finish instead of both sides waiting on a
/// full pipe, as they did when all input was written before any output was read.
@Suite(.timeLimit(.minutes(3))) struct ToolRunTests {
    /// 8 MiB through `cat`: the output pipe fills long before the input is written.
    @Test func largeInputAndOutputThroughCat() throws {
        var generator = SystemRandomNumberGenerator()
        let line = (0..<1023).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &generator))) }
        let input = String(repeating: String(line) + "\n", count: 8 * 1024)
        let output = try SlapdInstance.run("/bin/cat", [], input: input)
        #expect(output.utf8.count == input.utf8.count)
        #expect(output == input)
    }

    /// A child that exits without reading its stdin: the write fails (EPIPE) instead of killing
    /// the test process with SIGPIPE, and the status is the child's.
    @Test func childThatDoesNotReadItsInput() throws {
        let input = String(repeating: "x", count: 4 << 20)
        #expect(try SlapdInstance.run("/bin/sh", ["-c", "echo done"], input: input) == "done\n")
        let error = #expect(throws: SlapdError.self) {
            try SlapdInstance.run("/bin/sh", ["-c", "echo oops >&2; exit 3"], input: input)
        }
        #expect(error?.description.contains("failed (3): oops") == true, "\(String(describing: error))")
        #expect(try SlapdInstance.run("/bin/sh", ["-c", "cat >/dev/null; echo read"], input: "") == "read\n")
        #expect(try SlapdInstance.run("/bin/echo", ["no input"]) == "no input\n")
    }

    /// The case that hung: ldapadd of a multi-megabyte LDIF prints a line per entry while it is
    /// still being fed. On a server of its own: the shared one need not carry 3,000 entries.
    @Test func ldapaddOfAMultiMegabyteLDIF() async throws {
        let slapd = try await onThreadOfItsOwn { try SlapdInstance.startTemporary(seed: SlapdInstance.baseEntriesLDIF(baseDN: "dc=example,dc=com")) }
        defer { slapd.destroy() }
        let unit = "ou=bulk,\(slapd.baseDN)"
        let padding = String(repeating: "p", count: 1500)
        var ldif = "dn: \(unit)\nobjectClass: organizationalUnit\nou: bulk\n\n"
        let count = 1500
        for index in 0..<count {
            ldif += "dn: ou=e\(index),\(unit)\nobjectClass: organizationalUnit\nou: e\(index)\ndescription: \(padding)\n\n"
        }
        #expect(ldif.utf8.count > 2 << 20)
        let input = ldif
        let output = try await onThreadOfItsOwn {
            try SlapdInstance.run("/usr/bin/ldapadd", ["-x", "-H", slapd.uri, "-D", slapd.rootDN, "-w", slapd.rootPassword], input: input)
        }
        #expect(output.utf8.count > 64 << 10, "more than a pipe holds")
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("adding new entry") }.count == count + 1)
        let root = LDAPConnection(configuration: LDAPConfiguration(uri: slapd.uri, credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword)))
        defer { root.close() }
        #expect(try await root.search(base: unit.parsedDN, scope: .oneLevel, attributes: ["1.1"]).entries.count == count)
    }
}
