// Debian's Dovecot started from the docker/dovecot templates (MailConfigTemplates) on
// 127.0.0.1, and the child-process helpers it needs: shared by MailServerTests and gwdir-bench
// (moved here from Tests/MailServerTests/MailTestSupport.swift).
import Foundation
import LocalSlapd
import MailConfigTemplates
#if canImport(Glibc)
import Glibc
#endif

// MARK: Tools

public struct ToolResult: CustomStringConvertible, Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    /// stdout without the trailing newline.
    public var output: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Runs a tool to completion; stderr goes through a file so neither pipe can fill up.
/// posix_spawn + waitpid rather than Foundation's Process, whose exit detection lags by
/// seconds on Linux when several tests run tools at once.
public func runTool(_ executable: String, _ arguments: [String]) throws -> ToolResult {
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

public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
}

/// Starts a child with stdin from /dev/null and the given stdout/stderr descriptors.
public func spawn(_ executable: String, _ arguments: [String], stdout: Int32, stderr: Int32) throws -> pid_t {
    try ChildProcess.spawn(executable, arguments, output: .descriptors(stdout: stdout, stderr: stderr))
}

/// Reaps a child and returns its exit status (128 + signal when killed).
@discardableResult
public func waitForExit(_ pid: pid_t) -> Int32 {
    ChildProcess.waitForExit(pid)
}

/// True while the child has not exited (reaps it when it has).
public func childIsRunning(_ pid: pid_t) -> Bool {
    ChildProcess.exitStatusIfExited(pid) == nil
}

// MARK: Dovecot

/// A real Dovecot (`dovecot -F`, a child of the test process) on 127.0.0.1 with its own
/// base_dir, state_dir, mail root and ports under a temp dir, rendered from docker/dovecot.
public final class DovecotServer: @unchecked Sendable {
    public let directory: URL
    public let configPath: String
    public let lmtpPort: Int
    public let imapPort: Int
    /// Dovecot's SASL auth listener for Postfix (`smtpd_sasl_path = inet:127.0.0.1:<port>`).
    public let authPort: Int
    /// POP3 listener, for the policy tests.
    public let pop3Port: Int
    public let mailRoot: URL
    private let pid: pid_t

    public var logText: String {
        (try? String(contentsOf: directory.appendingPathComponent("dovecot.log"), encoding: .utf8)) ?? ""
    }

    /// Starts a server; a port picked as free may be taken before Dovecot binds it
    /// ("Address already in use"), so start-up is retried with new ports.
    /// Where Dovecot's auth policy goes (docker/dovecot/auth-policy.conf.ext); nil: no policy.
    public struct Policy: Sendable {
        public var url: String
        public var key: String
        public init(url: String, key: String) {
            self.url = url
            self.key = key
        }
    }

    /// `ldapValues`: the placeholders of the LDAP templates (LDAP_URI, BASE_DN, DOVECOT_DN, DOVECOT_PW, ...).
    public static func start(ldapValues: [String: String], policy: Policy? = nil) throws -> DovecotServer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try startOnce(ldapValues, policy: policy)
            } catch let error as StartError where attempt < 3 && error.description.contains("Address already in use") {
                continue
            }
        }
    }

    private static func startOnce(_ ldapValues: [String: String], policy: Policy?) throws -> DovecotServer {
        let directory = try temporaryDirectory("dovecot")
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
            [.ownerAccountID: Self.vmailUID, .groupOwnerAccountID: Self.vmailGID],
            ofItemAtPath: mail.path
        )
        let ports = try (0..<4).map { _ in try SlapdInstance.freeLoopbackPort() }
        var values = ldapValues
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
            "VMAIL_UID": String(Self.vmailUID),
            "VMAIL_GID": String(Self.vmailGID),
            "INTERNAL_USER": "dovecot",
            "LOGIN_USER": "dovenull",
        ]) { $1 }
        for file in ["dovecot.conf", "dovecot-ldap-passdb.conf.ext", "dovecot-ldap-passdb-bind.conf.ext", "dovecot-ldap-userdb.conf.ext",
                     "dovecot-ldap-userdb-alias.conf.ext", "gwdir-alias-folder.sieve"] {
            try render("dovecot/\(file)", values, to: conf.appendingPathComponent(file))
        }
        if let policy {
            values.merge(["POLICY_URL": policy.url, "POLICY_KEY": policy.key, "POLICY_NONCE": UUID().uuidString]) { $1 }
            try render("dovecot/auth-policy.conf.ext", values, to: conf.appendingPathComponent("auth-policy.conf.ext"))
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

    /// The virtual mail user owning the mailboxes (docker: 5000).
    public static let vmailUID = 5000
    public static let vmailGID = 5000

    /// Renders a template of docker/ (shipped as MailConfigTemplates' resources) to `destination`.
    private static func render(_ relativePath: String, _ values: [String: String], to destination: URL) throws {
        try MailConfigTemplates.render(MailConfigTemplates.template(relativePath), values)
            .write(to: destination, atomically: true, encoding: .utf8)
    }

    private static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
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

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
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
    public func stop() {
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
    public func authTest(_ user: String, _ password: String, service: String = "imap") throws -> ToolResult {
        try runTool("/usr/bin/doveadm", ["-c", configPath, "auth", "test", "-x", "service=\(service)", "-x", "no-penalty=1", user, password])
    }

    public func login(_ user: String, _ password: String, service: String = "imap") throws -> Bool {
        try authTest(user, password, service: service).status == 0
    }

    /// `doveadm user`: the userdb fields, or nil when the user does not exist (exit 67).
    public func userFields(_ address: String) throws -> [String: String]? {
        let result = try runTool("/usr/bin/doveadm", ["-c", configPath, "user", address])
        guard result.status == 0 else { return nil }
        var fields: [String: String] = [:]
        for line in result.stdout.split(separator: "\n").dropFirst() {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    public func doveadm(_ arguments: [String]) throws -> ToolResult {
        try runTool("/usr/bin/doveadm", ["-c", configPath] + arguments)
    }

    public static func accepts(port: Int) -> Bool {
        guard let fd = connectLoopback(port: port) else { return false }
        close(fd)
        return true
    }
}


public func connectLoopback(port: Int) -> Int32? {
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
