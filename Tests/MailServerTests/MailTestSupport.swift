import Foundation
import LDAPClient
import LocalSlapd
import TestSupport

// Shared pieces of the mail-server tests: a sample workspace in the harness slapd, the
// docker/ templates rendered into a temp dir, Debian's tools run as child processes, and a
// real Dovecot on 127.0.0.1 that is always stopped.

// MARK: Sample directory

/// One workspace with every kind of mail entry, created once per test process as the root DN
/// (the templates must work on data as the service writes it, not as an ACL-limited user).
struct SampleDirectory: Sendable {
    let fixture: DirectoryFixture
    let workspaceDN: String
    /// The workspace's primary mail domain (unique per test process) and a second one.
    let domain: String
    let altDomain: String
    var salesDN: String { "ou=sales,\(workspaceDN)" }
    /// A unit with a Korean name: DNs carry raw UTF-8.
    var koreanUnitDN: String { "ou=영업부,\(workspaceDN)" }

    func address(_ local: String) -> String { "\(local)@\(domain)" }
    func password(_ uid: String) -> String { "\(uid)-Account-Pw" }
    func mailPassword(_ uid: String) -> String { "\(uid)-mail-only-Pw" }

    static let vmailUID = 5000
    static let vmailGID = 5000
    static let aliceQuota = "1073741824"
    static let minjunQuota = "5368709120"

    private static let shared = SharedTask()

    static func get() async throws -> SampleDirectory {
        try await shared.value()
    }

    private actor SharedTask {
        var task: Task<SampleDirectory, any Error>?
        func value() async throws -> SampleDirectory {
            if let task { return try await task.value }
            let task = Task { try await SampleDirectory.create() }
            self.task = task
            return try await task.value
        }
    }

    private static func create() async throws -> SampleDirectory {
        let fixture = try DirectoryFixture.shared()
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let sample = SampleDirectory(
            fixture: fixture,
            workspaceDN: "o=mail-\(tag),\(fixture.workspacesDN)",
            domain: "\(tag).mail.test",
            altDomain: "alt-\(tag).mail.test"
        )
        try await sample.populate()
        return sample
    }

    private func account(
        _ root: LDAPConnection, _ uid: String, in unit: String? = nil, status: String, services: [String],
        quota: String? = nil, serviceType: String = "both", mailPasswordSet: Bool = false,
        names: (cn: String, sn: String, given: String)? = nil
    ) async throws -> String {
        let dn = "uid=\(uid),\(unit ?? salesDN)"
        var attributes = [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
            LDAPAttribute("uid", uid),
            LDAPAttribute("cn", names?.cn ?? uid.capitalized),
            LDAPAttribute("sn", names?.sn ?? uid),
            LDAPAttribute("mail", address(uid)),
            LDAPAttribute("userPassword", password(uid)),
            LDAPAttribute("gwAccountStatus", status),
            LDAPAttribute("gwServiceType", serviceType),
        ]
        if let names {
            attributes += [LDAPAttribute("givenName", names.given), LDAPAttribute("displayName", names.cn)]
        }
        if !services.isEmpty { attributes.append(LDAPAttribute("gwEnabledService", services)) }
        if let quota { attributes.append(LDAPAttribute("gwMailQuota", quota)) }
        if mailPasswordSet { attributes.append(LDAPAttribute("gwMailPasswordSet", "TRUE")) }
        _ = try await root.add(dn: dn.parsedDN, attributes: attributes)
        return dn
    }

    private func credential(_ root: LDAPConnection, under accountDN: String, for owner: String, password: String) async throws {
        _ = try await root.add(dn: "cn=mail-password,\(accountDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailCredential"]),
            LDAPAttribute("cn", "mail-password"),
            LDAPAttribute("userPassword", password),
            LDAPAttribute("gwCredentialFor", address(owner)),
        ])
    }

    private func populate() async throws {
        let root = fixture.rootConnection()
        defer { root.close() }
        _ = try await root.add(dn: workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwWorkspace"]),
            LDAPAttribute("o", String(workspaceDN.dropFirst(2).prefix { $0 != "," })),
            LDAPAttribute("gwMailDomain", [domain, altDomain]),
        ])
        for unit in [salesDN, koreanUnitDN] {
            let name = String(unit.dropFirst(3).prefix { $0 != "," })
            _ = try await root.add(dn: unit.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["organizationalUnit", "gwOrgUnit"]),
                LDAPAttribute("ou", name),
            ])
        }
        let all = ["imap", "pop3", "smtp"]
        let alice = try await account(root, "alice", status: "active", services: all, quota: Self.aliceQuota)
        let bob = try await account(root, "bob", status: "active", services: ["imap"])
        _ = try await account(root, "carol", status: "suspended", services: all)
        let dave = try await account(root, "dave", status: "active", services: ["imap", "smtp"], mailPasswordSet: true)
        try await credential(root, under: dave, for: "dave", password: mailPassword("dave"))
        // Suspended with a mail-only password: the credential path must check the status too.
        let sue = try await account(root, "sue", status: "suspended", services: all, mailPasswordSet: true)
        try await credential(root, under: sue, for: "sue", password: mailPassword("sue"))
        _ = try await account(root, "dis", status: "disabled", services: all)
        _ = try await account(root, "gone", status: "deleted", services: all)
        _ = try await account(root, "gw", status: "active", services: ["web"], serviceType: "groupware")
        // Inconsistent states must fail closed: a credential without the flag ...
        let erin = try await account(root, "erin", status: "active", services: all)
        try await credential(root, under: erin, for: "erin", password: mailPassword("erin"))
        // ... and the flag without a credential.
        _ = try await account(root, "frank", status: "active", services: all, mailPasswordSet: true)
        // A credential planted under another account, naming gina (who has no mail-only password).
        _ = try await account(root, "gina", status: "active", services: all)
        let mallory = try await account(root, "mallory", status: "active", services: all)
        try await credential(root, under: mallory, for: "gina", password: mailPassword("mallory"))
        let minjun = try await account(
            root, "minjun", in: koreanUnitDN, status: "active", services: all, quota: Self.minjunQuota,
            names: (cn: "김민준", sn: "김", given: "민준")
        )
        // Sub-account alias of alice, filed into her "Sales" folder.
        _ = try await root.add(dn: "mail=\(address("al")),\(alice)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailAlias"]),
            LDAPAttribute("mail", address("al")),
            LDAPAttribute("gwAliasFolder", "Sales"),
            LDAPAttribute("gwDeliverTo", address("alice+Sales")),
            LDAPAttribute("gwOwnerAddress", address("alice")),
        ])
        _ = try await root.modify(dn: alice.parsedDN, [.replace("gwAliasCount", ["1"])])
        // Groups: team = alice, bob, minjun, the nested group "inner" (dave) and the refint placeholder.
        let inner = "cn=inner,\(salesDN)"
        _ = try await root.add(dn: inner.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]),
            LDAPAttribute("cn", "inner"),
            LDAPAttribute("mail", address("inner")),
            LDAPAttribute("member", [dave]),
        ])
        _ = try await root.add(dn: "cn=team,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["groupOfNames", "gwMailGroup"]),
            LDAPAttribute("cn", "team"),
            LDAPAttribute("mail", address("team")),
            LDAPAttribute("member", [alice, bob, minjun, inner, "cn=nobody,ou=system,\(fixture.baseDN)"]),
        ])
        _ = try await root.add(dn: "uid=help,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwSharedMailbox"]),
            LDAPAttribute("uid", "help"),
            LDAPAttribute("cn", "Help desk"),
            LDAPAttribute("sn", "help"),
            LDAPAttribute("mail", address("help")),
        ])
        _ = try await root.add(dn: "uid=closed,\(salesDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwSharedMailbox"]),
            LDAPAttribute("uid", "closed"),
            LDAPAttribute("cn", "Closed"),
            LDAPAttribute("sn", "closed"),
            LDAPAttribute("mail", address("closed")),
            LDAPAttribute("gwAccountStatus", "disabled"),
        ])
        _ = bob
    }

    /// The placeholder values shared by every LDAP template.
    var ldapValues: [String: String] {
        [
            "LDAP_URI": fixture.slapd.uri,
            "BASE_DN": fixture.baseDN,
            "POSTFIX_DN": fixture.postfixDN,
            "POSTFIX_PW": fixture.postfixPassword,
            "DOVECOT_DN": fixture.dovecotDN,
            "DOVECOT_PW": fixture.dovecotPassword,
        ]
    }
}

// MARK: Templates

enum MailTemplates {
    /// `docker/` of this checkout.
    static let dockerDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docker")

    struct UnfilledPlaceholder: Error, CustomStringConvertible {
        var file: String
        var line: String
        var description: String { "\(file): unfilled placeholder in: \(line)" }
    }

    /// Fills `{{NAME}}`s; any placeholder left outside a comment line is an error.
    static func render(_ relativePath: String, _ values: [String: String], to destination: URL) throws {
        var text = try String(contentsOf: dockerDirectory.appendingPathComponent(relativePath), encoding: .utf8)
        for (name, value) in values {
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") && line.contains("{{") {
            throw UnfilledPlaceholder(file: relativePath, line: String(line))
        }
        try text.write(to: destination, atomically: true, encoding: .utf8)
    }

    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

// MARK: Tools

struct ToolResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    /// stdout without the trailing newline.
    var output: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Runs a tool to completion; stderr goes through a file so neither pipe can fill up.
/// posix_spawn + waitpid rather than Foundation's Process, whose exit detection lags by
/// seconds on Linux when several tests run tools at once.
func runTool(_ executable: String, _ arguments: [String]) throws -> ToolResult {
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-tool-\(UUID().uuidString).err")
    defer { try? FileManager.default.removeItem(at: errorFile) }
    let errorFD = open(errorFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard errorFD >= 0 else { throw ChildProcessError(description: "open \(errorFile.path): errno \(errno)") }
    var fds: [Int32] = [0, 0]
    // Close-on-exec from the start, so a child spawned concurrently by another test cannot
    // inherit the write end (a pipe2 equivalent that Glibc's Swift module exposes).
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
        close(errorFD)
        throw ChildProcessError(description: "pipe: errno \(errno)")
    }
    let pid: pid_t
    do {
        pid = try spawn(executable, arguments, stdout: fds[1], stderr: errorFD)
    } catch {
        close(fds[0]); close(fds[1]); close(errorFD)
        throw error
    }
    close(fds[1])
    close(errorFD)
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fds[0], &chunk, chunk.count)
        if count > 0 { output += chunk[..<count]; continue }
        if count < 0, errno == EINTR { continue }
        break
    }
    close(fds[0])
    let status = waitForExit(pid)
    let errors = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    return ToolResult(status: status, stdout: String(decoding: output, as: UTF8.self), stderr: errors)
}

struct ChildProcessError: Error, CustomStringConvertible {
    var description: String
}

/// Starts a child with stdin from /dev/null and the given stdout/stderr descriptors.
func spawn(_ executable: String, _ arguments: [String], stdout: Int32, stderr: Int32) throws -> pid_t {
    try ChildProcess.spawn(executable, arguments, output: .descriptors(stdout: stdout, stderr: stderr))
}

/// Reaps a child and returns its exit status (128 + signal when killed).
@discardableResult
func waitForExit(_ pid: pid_t) -> Int32 {
    ChildProcess.waitForExit(pid)
}

/// True while the child has not exited (reaps it when it has).
func childIsRunning(_ pid: pid_t) -> Bool {
    ChildProcess.exitStatusIfExited(pid) == nil
}

// MARK: Dovecot

/// A real Dovecot (`dovecot -F`, a child of the test process) on 127.0.0.1 with its own
/// base_dir, state_dir, mail root and ports under a temp dir, rendered from docker/dovecot.
final class DovecotServer: @unchecked Sendable {
    let directory: URL
    let configPath: String
    let lmtpPort: Int
    let imapPort: Int
    /// Dovecot's SASL auth listener for Postfix (`smtpd_sasl_path = inet:127.0.0.1:<port>`).
    let authPort: Int
    /// POP3 listener, for the policy tests.
    let pop3Port: Int
    let mailRoot: URL
    private let pid: pid_t

    var logText: String {
        (try? String(contentsOf: directory.appendingPathComponent("dovecot.log"), encoding: .utf8)) ?? ""
    }

    /// Starts a server; a port picked as free may be taken before Dovecot binds it
    /// ("Address already in use"), so start-up is retried with new ports.
    /// Where Dovecot's auth policy goes (docker/dovecot/auth-policy.conf.ext); nil: no policy.
    struct Policy {
        var url: String
        var key: String
    }

    static func start(_ sample: SampleDirectory, policy: Policy? = nil) throws -> DovecotServer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try startOnce(sample, policy: policy)
            } catch let error as StartError where attempt < 3 && error.description.contains("Address already in use") {
                continue
            }
        }
    }

    private static func startOnce(_ sample: SampleDirectory, policy: Policy?) throws -> DovecotServer {
        let directory = try MailTemplates.temporaryDirectory("dovecot")
        let fileManager = FileManager.default
        let conf = directory.appendingPathComponent("conf")
        let run = directory.appendingPathComponent("run")
        let state = directory.appendingPathComponent("state")
        let mail = directory.appendingPathComponent("vmail")
        for folder in [conf, conf.appendingPathComponent("local.d"), state, mail] {
            try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        // Mailboxes belong to the virtual mail user, as in docker.
        try fileManager.setAttributes(
            [.ownerAccountID: SampleDirectory.vmailUID, .groupOwnerAccountID: SampleDirectory.vmailGID],
            ofItemAtPath: mail.path
        )
        let ports = try (0..<4).map { _ in try SlapdInstance.freeLoopbackPort() }
        var values = sample.ldapValues
        values.merge([
            "DOVECOT_CONF_DIR": conf.path,
            "BASE_DIR": run.path,
            "STATE_DIR": state.path,
            "LOG_PATH": directory.appendingPathComponent("dovecot.log").path,
            "LISTEN": "127.0.0.1",
            "IMAP_PORT": String(ports[0]),
            "POP3_PORT": String(ports[1]),
            "LMTP_PORT": String(ports[2]),
            "AUTH_PORT": String(ports[3]),
            "MAIL_ROOT": mail.path,
            "VMAIL_UID": String(SampleDirectory.vmailUID),
            "VMAIL_GID": String(SampleDirectory.vmailGID),
            "INTERNAL_USER": "dovecot",
            "LOGIN_USER": "dovenull",
        ]) { $1 }
        for file in ["dovecot.conf", "dovecot-ldap-passdb.conf.ext", "dovecot-ldap-passdb-bind.conf.ext", "dovecot-ldap-userdb.conf.ext",
                     "dovecot-ldap-userdb-alias.conf.ext", "gwdir-alias-folder.sieve"] {
            try MailTemplates.render("dovecot/\(file)", values, to: conf.appendingPathComponent(file))
        }
        if let policy {
            values.merge(["POLICY_URL": policy.url, "POLICY_KEY": policy.key, "POLICY_NONCE": UUID().uuidString]) { $1 }
            try MailTemplates.render("dovecot/auth-policy.conf.ext", values, to: conf.appendingPathComponent("auth-policy.conf.ext"))
            // Policy tests fail many logins from one address on purpose: without this, Dovecot's
            // auth penalty (anvil) would delay each of them by 2 to 15 s.
            // And a loaded test machine must not turn a slow answer into Dovecot's fail-open.
            try "auth_policy_server_timeout_msecs = 30000\nservice anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
                .write(to: conf.appendingPathComponent("local.d/policy-tests.conf"), atomically: true, encoding: .utf8)
        }
        // The global Sieve script runs as the mail user, who cannot write its binary: compile it
        // as mail-entrypoint.sh does.
        let sievec = try runTool("/usr/bin/sievec", ["-c", conf.appendingPathComponent("dovecot.conf").path,
                                                     conf.appendingPathComponent("gwdir-alias-folder.sieve").path])
        guard sievec.status == 0 else { throw StartError(description: "sievec: \(sievec)") }
        // Test-only override through the local.d hook: no artificial delay after a failed login.
        try "auth_failure_delay = 0\n".write(to: conf.appendingPathComponent("local.d/tests.conf"), atomically: true, encoding: .utf8)

        let configPath = conf.appendingPathComponent("dovecot.conf").path
        let startupLog = directory.appendingPathComponent("startup.log")
        let logFD = open(startupLog.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw StartError(description: "open \(startupLog.path): errno \(errno)") }
        defer { close(logFD) }
        let pid = try spawn("/usr/sbin/dovecot", ["-F", "-c", configPath], stdout: logFD, stderr: logFD)
        let server = DovecotServer(
            directory: directory, configPath: configPath, lmtpPort: ports[2], imapPort: ports[0], pop3Port: ports[1], authPort: ports[3],
            mailRoot: mail, pid: pid
        )
        do {
            try server.waitUntilReady(run: run, startupLog: startupLog)
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    private init(directory: URL, configPath: String, lmtpPort: Int, imapPort: Int, pop3Port: Int, authPort: Int, mailRoot: URL, pid: pid_t) {
        self.directory = directory
        self.configPath = configPath
        self.lmtpPort = lmtpPort
        self.imapPort = imapPort
        self.authPort = authPort
        self.pop3Port = pop3Port
        self.mailRoot = mailRoot
        self.pid = pid
    }

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    private func waitUntilReady(run: URL, startupLog: URL) throws {
        let deadline = Date().addingTimeInterval(20)
        let sockets = ["auth-client", "auth-userdb"].map { run.appendingPathComponent($0).path }
        while Date() < deadline {
            if !childIsRunning(pid) {
                let output = (try? String(contentsOf: startupLog, encoding: .utf8)) ?? ""
                throw StartError(description: "dovecot exited during start-up: \(output) \(logText)")
            }
            if sockets.allSatisfy(FileManager.default.fileExists(atPath:)), Self.accepts(port: lmtpPort), Self.accepts(port: imapPort),
               Self.accepts(port: authPort) {
                return
            }
            usleep(20_000)
        }
        throw StartError(description: "dovecot not ready within 20 s: \(logText)")
    }

    /// SIGTERM (the master stops its children), SIGKILL after 10 s; then the temp dir goes.
    func stop() {
        if childIsRunning(pid) {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while childIsRunning(pid), Date() < deadline { usleep(10_000) }
            if childIsRunning(pid) {
                kill(pid, SIGKILL)
                waitForExit(pid)
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// `doveadm auth test` with a protocol, as imap-login / pop3-login / Postfix SASL would ask.
    /// `no-penalty`: doveadm's repeated failures from one client must not slow later checks.
    func authTest(_ user: String, _ password: String, service: String = "imap") throws -> ToolResult {
        try runTool("/usr/bin/doveadm", ["-c", configPath, "auth", "test", "-x", "service=\(service)", "-x", "no-penalty=1", user, password])
    }

    func login(_ user: String, _ password: String, service: String = "imap") throws -> Bool {
        try authTest(user, password, service: service).status == 0
    }

    /// `doveadm user`: the userdb fields, or nil when the user does not exist (exit 67).
    func userFields(_ address: String) throws -> [String: String]? {
        let result = try runTool("/usr/bin/doveadm", ["-c", configPath, "user", address])
        guard result.status == 0 else { return nil }
        var fields: [String: String] = [:]
        for line in result.stdout.split(separator: "\n").dropFirst() {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    func doveadm(_ arguments: [String]) throws -> ToolResult {
        try runTool("/usr/bin/doveadm", ["-c", configPath] + arguments)
    }

    static func accepts(port: Int) -> Bool {
        guard let fd = connectLoopback(port: port) else { return false }
        close(fd)
        return true
    }
}

/// Runs `body` with a fresh Dovecot and stops it however the body ends.
func withDovecot<T>(_ body: (DovecotServer, SampleDirectory) async throws -> T) async throws -> T {
    let sample = try await SampleDirectory.get()
    let server = try DovecotServer.start(sample)
    defer { server.stop() }
    return try await body(server, sample)
}

func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    if !connected {
        close(fd)
        return nil
    }
    return fd
}

// MARK: LMTP

/// A minimal LMTP client (RFC 2033): one message, several recipients, one reply per recipient
/// after DATA for each accepted recipient. Returns every final reply line, in order.
func lmtpDeliver(port: Int, from: String, to recipients: [String], message: String) throws -> [String] {
    guard let fd = connectLoopback(port: port) else { throw DovecotServer.StartError(description: "LMTP connect to \(port) failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var buffer: [UInt8] = []
    func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw DovecotServer.StartError(description: "LMTP connection closed") }
            buffer += chunk[..<count]
        }
    }
    /// A reply may span lines "250-..." ... "250 ..."; returns the last.
    func readReply() throws -> String {
        var line = try readLine()
        while line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == "-" { line = try readLine() }
        return line
    }
    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
    var replies = [try readReply()]
    send("LHLO test.local\r\n"); replies.append(try readReply())
    send("MAIL FROM:<\(from)>\r\n"); replies.append(try readReply())
    var accepted = 0
    for recipient in recipients {
        send("RCPT TO:<\(recipient)>\r\n")
        let reply = try readReply()
        if reply.hasPrefix("250") { accepted += 1 }
        replies.append(reply)
    }
    send("DATA\r\n"); replies.append(try readReply())
    send(message.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n.\r\n")
    for _ in 0..<accepted { replies.append(try readReply()) }
    send("QUIT\r\n"); replies.append(try readReply())
    return replies
}
