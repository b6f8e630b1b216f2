import Foundation
import LDAPClient
import LocalSlapd
import Testing

/// Runs the built `gwdir` binary (next to the test bundle) in a fresh temporary working
/// directory, as a user would: a relative `./.gwdir` and resources found from the binary.
struct CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    static let binary: URL? = {
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(), Bundle.main.bundleURL.deletingLastPathComponent()]
        // Package root from this file: Tests/GWDirCLITests/<file>.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug"))
        return candidates.map { $0.appendingPathComponent("gwdir") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs `gwdir` with GWDIR_* cleared; output goes through files, not pipes, so a detached
    /// slapd that inherited a descriptor could never block the test.
    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let binary = try #require(Self.binary, "build the gwdir executable first (swift build)")
        return try runChild(binary.path, arguments, environment: environment, in: directory)
    }

    var pidFile: URL { directory.appendingPathComponent(".gwdir/slapd/run/slapd.pid") }

    func slapdPID() -> Int32? {
        (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func secret(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(".gwdir/secrets/\(name).password"), encoding: .utf8)
            .trimmingCharacters(in: .newlines)
    }

    func mode(_ relativePath: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(relativePath).path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// Alive and not a zombie (an orphaned daemon may stay unreaped in a container).
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(closing, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    /// Kills a slapd left running (whatever failed) and removes the directory.
    func cleanUp() {
        if let pid = slapdPID(), kill(pid, SIGTERM) == 0 {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, Self.isAlive(pid) { usleep(20_000) }
            _ = kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite(.serialized) struct GWDirCLITests {
    @Test func localLifecycleInitAndWhoAmI() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }

        // start: prints the URI; slapd outlives the command.
        let start = try cli.run(["local", "start"])
        #expect(start.status == 0, "\(start.stderr)")
        let uri = start.stdout.trimmingCharacters(in: .newlines)
        #expect(uri.hasPrefix("ldap://127.0.0.1:"))
        let pid = try #require(cli.slapdPID())
        #expect(CLI.isAlive(pid))

        let status = try cli.run(["local", "status"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("running"))
        #expect(status.stdout.contains(uri))
        #expect(status.stdout.contains("\(pid)"))

        let json = try cli.run(["local", "status", "--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "running")
        #expect(object["uri"] as? String == uri)
        #expect((object["pid"] as? NSNumber)?.int32Value == pid)

        // Idempotent start: same URI, same process.
        let again = try cli.run(["local", "start"])
        #expect(again.status == 0)
        #expect(again.stdout.trimmingCharacters(in: .newlines) == uri)
        #expect(cli.slapdPID() == pid)
        #expect(try cli.mode(".gwdir") == 0o700)
        #expect(try cli.mode(".gwdir/secrets") == 0o700)
        #expect(try cli.mode(".gwdir/secrets/root.password") == 0o600)

        // init: base tree and service accounts with generated passwords.
        let initialise = try cli.run(["init"])
        #expect(initialise.status == 0, "\(initialise.stderr)")
        #expect(initialise.stdout.contains("initialised dc=example,dc=com"))
        for account in ["gwdir", "dovecot", "postfix"] {
            #expect(try cli.mode(".gwdir/secrets/\(account).password") == 0o600)
        }

        let whoami = try cli.run(["whoami"])
        #expect(whoami.status == 0, "\(whoami.stderr)")
        #expect(whoami.stdout == "dn:cn=gwdir,ou=system,dc=example,dc=com\n")

        // Service passwords really are the accounts' passwords.
        let postfixPassword = cli.directory.appendingPathComponent(".gwdir/secrets/postfix.password").path
        let asPostfix = try cli.run(["whoami", "--bind-dn", "cn=postfix,ou=system,dc=example,dc=com", "--password-file", postfixPassword])
        #expect(asPostfix.stdout == "dn:cn=postfix,ou=system,dc=example,dc=com\n", "\(asPostfix.stderr)")

        let gwdirPassword = try cli.secret("gwdir")
        let secondInit = try cli.run(["init"])
        #expect(secondInit.status == 0)
        #expect(secondInit.stdout.contains("already initialised"))
        #expect(try cli.secret("gwdir") == gwdirPassword)

        // The first super admin, then a bind as that admin.
        let passwordFile = cli.directory.appendingPathComponent("admin-password")
        try "s3cret-Admin\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let withAdmin = try cli.run(["init", "--admin", "admin@example.com", "--admin-password-file", passwordFile.path, "--format", "json"])
        #expect(withAdmin.status == 0, "\(withAdmin.stderr)")
        #expect(withAdmin.stdout.contains(#""alreadyInitialised":true"#))
        #expect(withAdmin.stdout.contains(#""superAdminCreated":true"#))
        let adminDN = "uid=admin@example.com,ou=system,dc=example,dc=com"
        let asAdmin = try cli.run(["whoami"], environment: ["GWDIR_BIND_DN": adminDN, "GWDIR_PASSWORD_FILE": passwordFile.path])
        #expect(asAdmin.stdout == "dn:\(adminDN)\n", "\(asAdmin.stderr)")
        let root = LDAPConnection(configuration: LDAPConfiguration(
            uri: uri, credentials: .simple(dn: "cn=manager,dc=example,dc=com", password: try cli.secret("root"))
        ))
        let group = try await root.search(base: "cn=superadmins,ou=system,dc=example,dc=com".parsedDN, scope: .base, attributes: ["member"])
        #expect(group.entries.first?.strings("member").contains(adminDN) == true)
        root.close()

        let wrongPassword = cli.directory.appendingPathComponent("wrong")
        try "nope".write(to: wrongPassword, atomically: true, encoding: .utf8)
        let denied = try cli.run(["whoami", "--bind-dn", adminDN, "--password-file", wrongPassword.path])
        #expect(denied.status == 4)
        #expect(denied.stderr.hasPrefix("gwdir: error: invalid credentials"))

        // stop, idempotently; status reports stopped with exit code 3.
        #expect(try cli.run(["local", "stop"]).status == 0)
        #expect(!CLI.isAlive(pid))
        let stopped = try cli.run(["local", "status"])
        #expect(stopped.status == 3)
        #expect(stopped.stdout.contains("stopped"))
        #expect(try cli.run(["local", "stop"]).status == 0)

        let unreachable = try cli.run(["whoami"])
        #expect(unreachable.status == 6)
        #expect(unreachable.stderr.hasPrefix("gwdir: error: cannot connect to \(uri)"))
        #expect(unreachable.stderr.split(separator: "\n").count == 1)

        // Start again: same port, data kept.
        let restart = try cli.run(["local", "start"])
        #expect(restart.status == 0, "\(restart.stderr)")
        #expect(restart.stdout.trimmingCharacters(in: .newlines) == uri)
        #expect(try cli.run(["whoami"]).stdout == "dn:cn=gwdir,ou=system,dc=example,dc=com\n")
        let rootAgain = LDAPConnection(configuration: LDAPConfiguration(
            uri: uri, credentials: .simple(dn: "cn=manager,dc=example,dc=com", password: try cli.secret("root"))
        ))
        let base = try await rootAgain.search(base: "dc=example,dc=com".parsedDN, scope: .base)
        #expect(base.entries.first?.strings("o") == ["example"])
        rootAgain.close()
        #expect(try cli.run(["init"]).stdout.contains("already initialised"))

        #expect(try cli.run(["local", "stop"]).status == 0)
    }

    @Test func customBase() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let start = try cli.run(["local", "start", "--base", "DC=Acme,DC=kr"])
        #expect(start.status == 0, "\(start.stderr)")
        let other = try cli.run(["init", "--base", "dc=other,dc=org"])
        #expect(other.status == 5)
        #expect(other.stderr == "gwdir: error: the local directory serves dc=acme,dc=kr, not dc=other,dc=org\n")
        let initialise = try cli.run(["init", "--format", "json"])
        #expect(initialise.status == 0, "\(initialise.stderr)")
        #expect(initialise.stdout.contains(#""base":"dc=acme,dc=kr""#))
        #expect(try cli.run(["whoami"]).stdout == "dn:cn=gwdir,ou=system,dc=acme,dc=kr\n")
        #expect(try cli.run(["local", "stop"]).status == 0)
    }

    @Test func badURIFailsWithOneLine() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let closed = try cli.run(["whoami", "--uri", "ldap://127.0.0.1:1"])
        #expect(closed.status == 6)
        #expect(closed.stdout.isEmpty)
        #expect(closed.stderr.hasPrefix("gwdir: error: cannot connect to ldap://127.0.0.1:1"))
        #expect(closed.stderr.split(separator: "\n").count == 1)

        let fromEnvironment = try cli.run(["whoami"], environment: ["GWDIR_URI": "ldap://127.0.0.1:1"])
        #expect(fromEnvironment.status == 6)

        let notLDAP = try cli.run(["whoami", "--uri", "http://127.0.0.1:1"])
        #expect(notLDAP.status == 2)
        #expect(notLDAP.stderr == "gwdir: error: http://127.0.0.1:1 is not an LDAP URI (ldap://, ldaps:// or ldapi://)\n")
    }

    @Test func noDirectoryConfigured() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try cli.run(["whoami"])
        #expect(result.status == 6)
        #expect(result.stderr == "gwdir: error: no directory configured: run `gwdir local start` or pass --uri\n")
        let status = try cli.run(["local", "status"])
        #expect(status.status == 3)
        #expect(try cli.run(["local", "stop"]).status == 0)
    }

    @Test func usageErrors() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let unknown = try cli.run(["whoami", "--no-such-flag"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.hasPrefix("gwdir: error: "))
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        let half = try cli.run(["init", "--admin", "a@example.com"])
        #expect(half.status == 2)
        let badBase = try cli.run(["local", "start", "--base", "ou=people"])
        #expect(badBase.status == 2)
        #expect(!FileManager.default.fileExists(atPath: cli.pidFile.path))
        #expect(try cli.run(["--help"]).status == 0)
    }
}

/// Runs a program to its end with GWDIR_* cleared and `environment` added, in `directory`; its
/// stdout and stderr go through files. Spawned and reaped directly (`ChildProcess`): Foundation's
/// `Process.waitUntilExit` once missed a quick child's exit and hung the whole test run.
func runChild(_ executable: String, _ arguments: [String], environment: [String: String], in directory: URL) throws -> CLI.Output {
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GWDIR_") }
    env.merge(environment) { $1 }
    let id = UUID().uuidString.prefix(8)
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-cli-out-\(id)")
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-cli-err-\(id)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
    }
    let stdout = try FileHandle(forWritingTo: out), stderr = try FileHandle(forWritingTo: err)
    let pid = try ChildProcess.spawn(executable, arguments, output: .descriptors(stdout: stdout.fileDescriptor, stderr: stderr.fileDescriptor),
                                     environment: env, workingDirectory: directory.path)
    try stdout.close()
    try stderr.close()
    let status = ChildProcess.waitForExit(pid)
    return CLI.Output(
        status: status,
        stdout: try String(contentsOf: out, encoding: .utf8),
        stderr: try String(contentsOf: err, encoding: .utf8)
    )
}
