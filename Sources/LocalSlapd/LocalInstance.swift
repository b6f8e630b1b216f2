import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The long-lived slapd of `gwdir local`, kept under one directory (`./.gwdir`):
///
/// ```
/// .gwdir/config.json        URI, port, base DN, root DN — what later commands need
/// .gwdir/secrets/*.password root and service passwords (0600, directory 0700)
/// .gwdir/slapd/             slapd.d, data, audit, run/slapd.pid, slapd.log
/// ```
///
/// Unlike the tests' ``SlapdInstance`` it runs slapd **detached** (no `-d`: slapd forks, calls
/// setsid and writes its pid file), so the server outlives the command that started it. The
/// port is chosen once and kept, so the URI printed by the first start stays valid.
public struct LocalInstance: Sendable {
    /// What `gwdir` needs to reach the local directory; written once, on first start.
    public struct Configuration: Codable, Sendable, Equatable {
        public var uri: String
        public var port: Int
        public var baseDN: String
        public var rootDN: String

        public init(uri: String, port: Int, baseDN: String, rootDN: String) {
            self.uri = uri
            self.port = port
            self.baseDN = baseDN
            self.rootDN = rootDN
        }
    }

    public enum Status: Sendable, Equatable {
        case running(pid: Int32)
        case stopped
    }

    /// The outcome of ``start(baseDN:)``.
    public struct Started: Sendable {
        public var configuration: Configuration
        public var pid: Int32
        /// True when slapd was running already and nothing was done.
        public var wasRunning: Bool
    }

    public static let rootPasswordSecret = "root"

    public let directory: URL
    public let paths: SlapdPaths

    public init(directory: URL, paths: SlapdPaths = SlapdPaths()) {
        self.directory = directory.standardizedFileURL
        self.paths = paths
    }

    /// `./.gwdir` below the current working directory.
    public static func inWorkingDirectory() -> LocalInstance {
        LocalInstance(directory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".gwdir"))
    }

    public var configurationFile: URL { directory.appendingPathComponent("config.json") }
    public var secretsDirectory: URL { directory.appendingPathComponent("secrets") }
    public var slapdDirectory: URL { directory.appendingPathComponent("slapd") }
    public var pidFile: URL { slapdDirectory.appendingPathComponent("run/slapd.pid") }
    var lockFile: URL { directory.appendingPathComponent("lock") }

    // MARK: Configuration

    /// The stored configuration, or nil when no local directory was ever started here.
    public func configuration() throws -> Configuration? {
        guard let data = FileManager.default.contents(atPath: configurationFile.path) else { return nil }
        do {
            return try JSONDecoder().decode(Configuration.self, from: data)
        } catch {
            throw SlapdError("\(configurationFile.path) is unreadable: \(error)")
        }
    }

    private func write(_ configuration: Configuration) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(configuration).write(to: configurationFile, options: .atomic)
    }

    // MARK: Secrets

    public func secretFile(_ name: String) -> URL {
        secretsDirectory.appendingPathComponent("\(name).password")
    }

    /// A stored secret, or nil when there is none.
    public func secret(_ name: String) throws -> String? {
        let url = secretFile(name)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .newlines)
    }

    /// Writes a secret with mode 0600 from the first byte (never world-readable, not even briefly).
    public func storeSecret(_ value: String, as name: String) throws {
        try writeSecret(value, to: secretFile(name))
    }

    /// `secrets/policy.key`: the key Dovecot's auth policy sends to `gwdir serve` (`X-API-Key`).
    public var policyKeyFile: URL { secretsDirectory.appendingPathComponent("policy.key") }

    /// The stored policy key, or 32 random bytes in hex stored first (mode 0600).
    @discardableResult
    public func policyKeyOrGenerate() throws -> String {
        if FileManager.default.fileExists(atPath: policyKeyFile.path) {
            return try String(contentsOf: policyKeyFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16).leftPadded(to: 2) }.joined()
        try writeSecret(key, to: policyKeyFile)
        return key
    }

    private func writeSecret(_ value: String, to url: URL) throws {
        try createPrivateDirectory(secretsDirectory)
        let temporary = url.path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SlapdError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array((value + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let closed = close(fd)
        guard written == bytes.count, closed == 0, rename(temporary, url.path) == 0 else {
            unlink(temporary)
            throw SlapdError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The stored secret, or a new random one stored first (so a retry after a failure reuses it).
    public func secretOrGenerate(_ name: String) throws -> String {
        if let existing = try secret(name) { return existing }
        let value = SlapdOptions.randomPassword()
        try storeSecret(value, as: name)
        return value
    }

    private func createPrivateDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
    }

    // MARK: Lifecycle

    public func status() throws -> Status {
        guard let configuration = try configuration() else { return .stopped }
        return runningPID(configuration).map { .running(pid: $0) } ?? .stopped
    }

    /// Starts slapd unless it runs already. The first start creates the configuration (slapd.d
    /// from `schema/slapd/config.ldif`, a root password, a free loopback port) for `baseDN`.
    public func start(baseDN: String) throws -> Started {
        try createPrivateDirectory(directory)
        return try withLock {
            let configuration = try configuration() ?? create(baseDN: baseDN)
            if let pid = runningPID(configuration) {
                return Started(configuration: configuration, pid: pid, wasRunning: true)
            }
            let pid = try launch(configuration)
            return Started(configuration: configuration, pid: pid, wasRunning: false)
        }
    }

    /// Stops slapd (SIGTERM, SIGKILL after 20 s). Returns false when it was not running.
    @discardableResult
    public func stop() throws -> Bool {
        guard FileManager.default.fileExists(atPath: directory.path) else { return false }
        return try withLock {
            guard let configuration = try configuration(), let pid = runningPID(configuration) else {
                try? FileManager.default.removeItem(at: pidFile)
                return false
            }
            _ = kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, SlapdInstance.isAlive(pid) { usleep(20_000) }
            if SlapdInstance.isAlive(pid) {
                _ = kill(pid, SIGKILL)
                while SlapdInstance.isAlive(pid) { usleep(20_000) }
            }
            try? FileManager.default.removeItem(at: pidFile)
            return true
        }
    }

    private func slapd(_ configuration: Configuration, rootPassword: String) -> SlapdInstance {
        SlapdInstance(options: SlapdOptions(
            directory: slapdDirectory, baseDN: configuration.baseDN, rootDN: configuration.rootDN,
            rootPassword: rootPassword, port: configuration.port, paths: paths
        ))
    }

    private func create(baseDN: String) throws -> Configuration {
        let port = try SlapdInstance.freeLoopbackPort()
        let configuration = Configuration(
            uri: "ldap://127.0.0.1:\(port)", port: port, baseDN: baseDN, rootDN: "cn=manager,\(baseDN)"
        )
        let rootPassword = try secretOrGenerate(Self.rootPasswordSecret)
        do {
            try slapd(configuration, rootPassword: rootPassword).configureIfNeeded()
        } catch {
            // A half-written slapd.d would make the next start skip configuration.
            try? FileManager.default.removeItem(at: slapdDirectory)
            throw error
        }
        try write(configuration)
        return configuration
    }

    /// Runs slapd without `-d`: slapd 2.5 forks, detaches (setsid, stdio to /dev/null), and its
    /// parent exits once the daemon has finished start-up, with the daemon's status.
    private func launch(_ configuration: Configuration) throws -> Int32 {
        guard !SlapdInstance.acceptsConnections(port: configuration.port) else {
            throw SlapdError("port \(configuration.port) of \(configuration.uri) is in use by another process")
        }
        let instance = slapd(configuration, rootPassword: "")
        try? FileManager.default.removeItem(atPath: instance.socketPath)
        try? FileManager.default.removeItem(at: pidFile)
        let arguments = [paths.slapd, "-F", instance.configDirectory.path, "-h", "\(configuration.uri)/ \(instance.ldapiURI)/"]
        let status = try Self.spawnAndWait(arguments, log: instance.logFile.path)
        guard status == 0 else {
            throw SlapdError("slapd failed to start (status \(status)): \(logTail(instance))")
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let pid = runningPID(configuration), SlapdInstance.acceptsConnections(port: configuration.port) {
                return pid
            }
            usleep(20_000)
        }
        throw SlapdError("slapd did not accept connections on \(configuration.uri) within 20 s: \(logTail(instance))")
    }

    /// The daemonising slapd forks and its first process exits; every descriptor above stderr is
    /// closed in it so the detached server holds none of ours.
    static func spawnAndWait(_ arguments: [String], log: String) throws -> Int32 {
        let pid = try ChildProcess.spawn(arguments[0], Array(arguments.dropFirst()), output: .file(log), closeOtherDescriptors: true)
        return ChildProcess.waitForExit(pid)
    }

    private func logTail(_ instance: SlapdInstance) -> String {
        let text = (try? String(contentsOf: instance.logFile, encoding: .utf8)) ?? ""
        let tail = text.split(separator: "\n").suffix(3).joined(separator: "; ")
        return tail.isEmpty ? "see `\(paths.slapd) -d 1 -F \(instance.configDirectory.path)`" : tail
    }

    /// The pid from the pid file, if that process is alive and is our slapd (not a reused pid).
    private func runningPID(_ configuration: Configuration) -> Int32? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              SlapdInstance.isAlive(pid),
              let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        let configDirectory = slapd(configuration, rootPassword: "").configDirectory.path
        return arguments.contains(configDirectory) ? pid : nil
    }

    /// Serialises start/stop between concurrent `gwdir` processes.
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SlapdError("cannot open \(lockFile.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw SlapdError("cannot lock \(lockFile.path): \(String(cString: strerror(errno)))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
