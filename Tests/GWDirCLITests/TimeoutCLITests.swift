import Foundation
import Glibc
import Testing

/// `--timeout` / `GWDIR_TIMEOUT`: a frozen slapd (SIGSTOP) fails a command with exit 6 and one
/// line, instead of hanging it; bad values are usage errors.
@Suite(.serialized) struct TimeoutCLITests {
    @Test func frozenDirectoryExitsSixWithinTheTimeout() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let start = try cli.run(["local", "start"])
        #expect(start.status == 0, "\(start.stderr)")
        let uri = start.stdout.trimmingCharacters(in: .newlines)
        #expect(try cli.run(["init"]).status == 0)
        #expect(try cli.run(["workspace", "list", "--timeout", "2"]).status == 0)

        let pid = try #require(cli.slapdPID())
        #expect(kill(pid, SIGSTOP) == 0)
        // Thawed before cleanUp's SIGTERM, which a stopped slapd would not act on.
        defer { kill(pid, SIGCONT) }

        let began = Date()
        let frozen = try cli.run(["workspace", "list", "--timeout", "2"])
        let elapsed = Date().timeIntervalSince(began)
        #expect(frozen.status == 6, "\(frozen.stderr)")
        #expect(frozen.stderr.hasPrefix("gwdir: error: \(uri) did not answer within 2 s"), "\(frozen.stderr)")
        #expect(frozen.stderr.split(separator: "\n").count == 1)
        #expect(frozen.stdout.isEmpty)
        #expect(elapsed >= 1.9 && elapsed < 15, "took \(elapsed) s")

        // The environment variable works the same way.
        let fromEnvironment = try cli.run(["whoami"], environment: ["GWDIR_TIMEOUT": "1.5"])
        #expect(fromEnvironment.status == 6)
        #expect(fromEnvironment.stderr.hasPrefix("gwdir: error: \(uri) did not answer within 1.5 s"), "\(fromEnvironment.stderr)")

        kill(pid, SIGCONT)
        let thawed = try cli.run(["workspace", "list", "--timeout", "2"])
        #expect(thawed.status == 0, "\(thawed.stderr)")
    }

    @Test(arguments: [["--timeout", "0"], ["--timeout", "abc"], ["--timeout=-3"], ["--timeout", "nan"]])
    func badTimeoutIsAUsageError(flag: [String]) throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["workspace", "list"] + flag)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("gwdir: error: "))
        #expect(result.stderr.split(separator: "\n").count == 1)
        // `user add` and `user passwd` take their connection options from BindOptions.
        let passwd = try cli.run(["user", "passwd", "someone@example.com"] + flag)
        #expect(passwd.status == 2, "\(passwd.stderr)")
    }

    @Test func badTimeoutInTheEnvironmentIsAUsageError() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["whoami", "--uri", "ldap://127.0.0.1:1"], environment: ["GWDIR_TIMEOUT": "abc"])
        #expect(result.status == 2)
        #expect(result.stderr == "gwdir: error: GWDIR_TIMEOUT must be a positive number of seconds, not \"abc\"\n")
    }
}
