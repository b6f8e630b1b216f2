import DirectorySchema
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where Debian's slapd package puts things.
public struct SlapdPaths: Sendable {
    public var slapd = "/usr/sbin/slapd"
    public var slapadd = "/usr/sbin/slapadd"
    public var slapmodify = "/usr/sbin/slapmodify"
    public var slappasswd = "/usr/sbin/slappasswd"
    public var modules = "/usr/lib/ldap"
    public var systemSchema = "/etc/ldap/schema"
    public init() {}
}

/// What slapd to run. Everything lives below `directory`, so removing it removes the server.
public struct SlapdOptions: Sendable {
    public var directory: URL
    public var baseDN: String
    public var rootDN: String
    public var rootPassword: String
    /// 0 picks a free loopback port.
    public var port: Int
    public var logLevel: String
    /// LDIF change records (`changetype: modify`) applied to cn=config with slapmodify before the
    /// first start, e.g. TLS certificates for a test.
    public var configurationChanges: [String]
    /// Also listen for `ldaps://` on this loopback port (needs TLS in `configurationChanges`).
    public var ldapsPort: Int?
    public var paths: SlapdPaths

    public init(
        directory: URL,
        baseDN: String = "dc=example,dc=com",
        rootDN: String? = nil,
        rootPassword: String = SlapdOptions.randomPassword(),
        port: Int = 0,
        logLevel: String = "none",
        configurationChanges: [String] = [],
        paths: SlapdPaths = SlapdPaths()
    ) {
        self.directory = directory
        self.baseDN = baseDN
        self.rootDN = rootDN ?? "cn=manager,\(baseDN)"
        self.rootPassword = rootPassword
        self.port = port
        self.logLevel = logLevel
        self.configurationChanges = configurationChanges
        self.paths = paths
    }

    public static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        return String((0..<24).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }
}

public struct SlapdError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
    init(_ description: String) { self.description = description }
}

/// A slapd started from the project's templates: by the tests (a throwaway server per suite),
/// by `gwdir local` (long-lived, under `./.gwdir`) and by the benchmark.
public final class SlapdInstance: @unchecked Sendable {
    public let options: SlapdOptions
    public private(set) var port: Int
    private let lock = NSLock()
    /// The foreground slapd, our child while it runs.
    private var pid: pid_t?
    /// The running slapd's process id (the benchmark reads its CPU time from /proc).
    public var processID: pid_t? { lock.withLock { pid } }

    public var uri: String { "ldap://127.0.0.1:\(port)" }
    public var ldapiURI: String { "ldapi://" + Self.percentEncode(socketPath) }
    public var baseDN: String { options.baseDN }
    public var rootDN: String { options.rootDN }
    public var rootPassword: String { options.rootPassword }

    var configDirectory: URL { options.directory.appendingPathComponent("slapd.d") }
    var dataDirectory: URL { options.directory.appendingPathComponent("data") }
    var auditDirectory: URL { options.directory.appendingPathComponent("audit") }
    var runDirectory: URL { options.directory.appendingPathComponent("run") }
    public var logFile: URL { options.directory.appendingPathComponent("slapd.log") }

    /// The ldapi socket; sun_path holds 108 bytes, so a deep directory gets a short path in /tmp.
    public var socketPath: String {
        let preferred = runDirectory.appendingPathComponent("ldapi").path
        if preferred.utf8.count < 100 { return preferred }
        var hash: UInt64 = 1469598103934665603
        for byte in preferred.utf8 { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
        return "/tmp/gwdir-ldapi-\(String(hash, radix: 36))"
    }

    public init(options: SlapdOptions) {
        self.options = options
        self.port = options.port
    }

    /// Creates the configuration if the directory holds none yet, then starts slapd in the
    /// foreground as a child of this process and waits until it accepts connections.
    public static func start(_ options: SlapdOptions) throws -> SlapdInstance {
        let instance = SlapdInstance(options: options)
        try instance.configureIfNeeded()
        try instance.start()
        return instance
    }

    /// A throwaway server in a fresh temporary directory, for tests and benchmarks.
    /// `seed` is LDIF loaded with slapadd before the first start (the base entry, bulk data).
    public static func startTemporary(
        baseDN: String = "dc=example,dc=com", seed: String? = nil, configurationChanges: [String] = [],
        ldapsPort: Int? = nil, logLevel: String = "none"
    ) throws -> SlapdInstance {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-slapd-\(UUID().uuidString.prefix(8))")
        var options = SlapdOptions(directory: directory, baseDN: baseDN, logLevel: logLevel, configurationChanges: configurationChanges)
        options.ldapsPort = ldapsPort
        let instance = SlapdInstance(options: options)
        try instance.configureIfNeeded()
        if let seed {
            let file = directory.appendingPathComponent("seed.ldif")
            try seed.write(to: file, atomically: true, encoding: .utf8)
            try instance.slapadd(ldif: file)
        }
        try instance.start()
        return instance
    }

    /// The base entry and the audit suffix entry, as LDIF for `seed`.
    public static func baseEntriesLDIF(baseDN: String) -> String {
        let firstValue = baseDN.split(separator: ",").first.map { String($0.split(separator: "=", maxSplits: 1).last ?? "") } ?? "example"
        return """
        dn: \(baseDN)
        objectClass: dcObject
        objectClass: organization
        dc: \(firstValue)
        o: \(firstValue)

        dn: ou=audit,\(baseDN)
        objectClass: organizationalUnit
        ou: audit

        """
    }

    public var isConfigured: Bool {
        FileManager.default.fileExists(atPath: configDirectory.appendingPathComponent("cn=config.ldif").path)
    }

    /// Renders `schema/slapd/config.ldif` and loads it with `slapadd -n0`.
    public func configureIfNeeded() throws {
        if isConfigured { return }
        let fileManager = FileManager.default
        for directory in [configDirectory, dataDirectory, auditDirectory, runDirectory] {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        // It holds the root password's hash and, for `gwdir local`, the data: a failed chmod is an error.
        try fileManager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: options.directory.path)
        let config = try DirectorySchema.render(DirectorySchema.template("slapd/config.ldif"), templateValues())
        let configFile = options.directory.appendingPathComponent("config.ldif")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        try Self.run(options.paths.slapadd, ["-n0", "-F", configDirectory.path, "-l", configFile.path])
        if !options.configurationChanges.isEmpty {
            let changes = options.directory.appendingPathComponent("config-changes.ldif")
            try options.configurationChanges.joined(separator: "\n\n").write(to: changes, atomically: true, encoding: .utf8)
            try Self.run(options.paths.slapmodify, ["-n0", "-F", configDirectory.path, "-l", changes.path])
        }
    }

    /// The values for the `{{NAME}}` placeholders of the slapd templates.
    public func templateValues() throws -> [String: String] {
        [
            "BASE_DN": options.baseDN,
            "ROOT_DN": options.rootDN,
            "ROOT_PW": try Self.hashPassword(options.rootPassword, slappasswd: options.paths.slappasswd),
            "RUN_DIR": runDirectory.path,
            "DATA_DIR": dataDirectory.path,
            "AUDIT_DATA_DIR": auditDirectory.path,
            "MODULE_PATH": options.paths.modules,
            "SYSTEM_SCHEMA_DIR": options.paths.systemSchema,
            "GWDIR_SCHEMA_LDIF": DirectorySchema.url("gwdir.ldif").path,
            "LOG_LEVEL": options.logLevel,
        ]
    }

    /// Bulk-loads LDIF into the directory database while slapd is stopped (fast: no protocol).
    public func slapadd(ldif: URL) throws {
        try Self.run(options.paths.slapadd, ["-q", "-F", configDirectory.path, "-b", options.baseDN, "-l", ldif.path])
    }

    public func start() throws {
        if port == 0 { port = try Self.freeLoopbackPort() }
        try? FileManager.default.removeItem(atPath: socketPath)
        var listeners = "\(uri)/ \(ldapiURI)/"
        if let ldapsPort = options.ldapsPort { listeners += " ldaps://127.0.0.1:\(ldapsPort)/" }
        let pid = try ChildProcess.spawn(
            // With -d, slapd logs to stderr (our log file) at that level; "none" keeps it quiet.
            options.paths.slapd, ["-F", configDirectory.path, "-h", listeners, "-d", options.logLevel == "none" ? "0" : options.logLevel],
            // A daemon keeps none of our descriptors: an inherited pipe (swift test's event
            // stream, a caller's output) would stay open as long as slapd runs, and its reader
            // would wait for the end of it.
            output: .file(logFile.path), closeOtherDescriptors: true
        )
        lock.withLock { self.pid = pid }
        try waitUntilReady(pid)
    }

    private func waitUntilReady(_ pid: pid_t) throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let status = ChildProcess.exitStatusIfExited(pid) {
                lock.withLock { self.pid = nil }
                let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
                throw SlapdError("slapd exited during start-up (status \(status)): \(log.suffix(2000))")
            }
            if Self.acceptsConnections(port: port), FileManager.default.fileExists(atPath: socketPath) { return }
            usleep(20_000)
        }
        throw SlapdError("slapd did not accept connections on \(uri) within 20 s")
    }

    /// Stops slapd cleanly (SIGTERM) and waits for it.
    public func stop() {
        signal(SIGTERM)
    }

    /// SIGKILL, as a crash would; `start()` brings it back on the same port and data.
    public func kill() {
        signal(SIGKILL)
    }

    /// Signals slapd and reaps it; SIGKILL after 15 s if it does not go.
    private func signal(_ signal: Int32) {
        let pid = lock.withLock { () -> pid_t? in
            defer { self.pid = nil }
            return self.pid
        }
        guard let pid, Glibc.kill(pid, signal) == 0 else { return }
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if ChildProcess.exitStatusIfExited(pid) != nil { return }
            usleep(10_000)
        }
        _ = Glibc.kill(pid, SIGKILL)
        ChildProcess.waitForExit(pid)
    }

    /// True while a process (not necessarily our child, e.g. a daemonised slapd) exists and is not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(closing, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    /// The running slapd's pid; nil once stopped or exited.
    public var processIdentifier: Int32? {
        lock.withLock {
            guard let pid, ChildProcess.exitStatusIfExited(pid) == nil else {
                self.pid = nil
                return nil
            }
            return pid
        }
    }

    /// Stops slapd and removes its directory.
    public func destroy() {
        stop()
        try? FileManager.default.removeItem(at: options.directory)
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    // MARK: Helpers

    /// Runs a tool to completion and returns its stdout and stderr; they become the error on
    /// failure. `input` is written while the output is read (``ChildProcess``), so a tool that
    /// answers as it reads (ldapadd) can not leave both sides waiting on a full pipe.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> String {
        let (status, output) = try ChildProcess.run(executable, arguments, input: input.map { Array($0.utf8) })
        let text = String(decoding: output, as: UTF8.self)
        guard status == 0 else {
            throw SlapdError("\((executable as NSString).lastPathComponent) \(arguments.joined(separator: " ")) failed (\(status)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return text
    }

    /// `{SSHA}` hash via slappasswd, so no cleartext secret sits in cn=config.
    public static func hashPassword(_ password: String, slappasswd: String = SlapdPaths().slappasswd) throws -> String {
        try run(slappasswd, ["-n", "-h", "{SSHA}", "-T", "/dev/stdin"], input: password)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SlapdError("socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw SlapdError("cannot find a free loopback port: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func percentEncode(_ path: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}
