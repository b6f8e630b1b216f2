import Directory
import DirectoryServer
import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// The built `gwdir serve` as a process: it serves on a real socket, and SIGTERM writes the
/// deferred last logins before it exits 0.
@Suite struct ServeProcessTests {
    static let binary: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(), root.appendingPathComponent(".build/debug"),
        ]
        return candidates.map { $0.appendingPathComponent("gwdir") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// One HTTP/1.1 request over a fresh connection; nil when nothing listens yet.
    static func http(port: Int, _ method: String, _ path: String, body: String = "", key: String? = nil) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return nil }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        if let key { request += "X-API-Key: \(key)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            response += chunk[..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusText = text.split(separator: " ").dropFirst().first, let status = Int(statusText) else { return nil }
        let payload = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, payload)
    }

    /// A `gwdir serve` child against `world`'s slapd, with its spool in `directory`.
    struct Server {
        let pid: pid_t
        let port: Int
        let log: String
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        static func start(_ world: PolicyWorld, in directory: URL, name: String = "serve") async throws -> Server {
            let binary = try #require(ServeProcessTests.binary, "build the gwdir executable first (swift build)")
            let passwordFile = directory.appendingPathComponent("gwdir.pw")
            let keyFile = directory.appendingPathComponent("policy.key")
            try world.fixture.gwdirPassword.write(to: passwordFile, atomically: true, encoding: .utf8)
            try TestKey.value.write(to: keyFile, atomically: true, encoding: .utf8)
            let port = try SlapdInstance.freeLoopbackPort()
            let log = directory.appendingPathComponent("\(name).log").path
            let pid = try ChildProcess.spawn(binary.path, [
                "serve", "--listen", "127.0.0.1:\(port)", "--uri", world.fixture.slapd.uri, "--base", world.fixture.baseDN,
                "--bind-dn", world.fixture.gwdirDN, "--password-file", passwordFile.path, "--policy-key-file", keyFile.path,
                "--spool-dir", directory.appendingPathComponent("spool").path, "--log-level", "debug",
            ], output: .file(log))
            let server = Server(pid: pid, port: port, log: log)
            var health: (status: Int, body: String)?
            for _ in 0..<300 where health == nil {
                health = ServeProcessTests.http(port: port, "GET", "/health")
                if health == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(health?.status == 200, "\(server.output)")
            return server
        }

        func report(_ login: String, _ ip: String, success: Bool = true) -> Int? {
            ServeProcessTests.http(port: port, "POST", "/dovecot/policy?command=report",
                                   body: policyBody(login: login, remote: ip, protocol: "imap", success: success, policyReject: false),
                                   key: TestKey.value)?.status
        }
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-serve-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func sigtermFlushesDeferredLastLoginsAndExitsZero() async throws {
        // A slapd of its own: a real `gwdir serve` purges expired audit and IP-block entries
        // on its first record, which would pull other tests' back-dated state from under them.
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-sigterm", fixture: fixture)
        defer { world.close() }
        let dn = try await world.addAccount("alice")
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await Server.start(world, in: directory)
        var exited = false
        defer { if !exited { kill(server.pid, SIGKILL); _ = ChildProcess.waitForExit(server.pid) } }

        #expect(server.report(world.address("alice"), "127.0.0.21") == 200)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(server.report(world.address("alice"), "127.0.0.22") == 200) // within the minute: deferred
        #expect(Self.http(port: server.port, "POST", "/dovecot/policy?command=report", body: "{}", key: "wrong")?.status == 401)
        let before = try await world.service.entry(try DistinguishedName(dn), attributes: ["gwLastLoginIP"])
        #expect(before?.string("gwLastLoginIP") == "127.0.0.21")

        kill(server.pid, SIGTERM)
        let status = ChildProcess.waitForExit(server.pid)
        exited = true
        let output = server.output
        #expect(status == 0, "\(output)")
        let after = try await world.service.entry(try DistinguishedName(dn), attributes: ["gwLastLoginIP"])
        #expect(after?.string("gwLastLoginIP") == "127.0.0.22", "\(output)")
        #expect(output.contains("missing or wrong X-API-Key"))
        #expect(output.contains("recorder drained"))
    }

    /// Issue 12: `kill -9` of serve during a burst of 2,000 reports; after a restart on the same
    /// spool, every report answered 200 is in the audit exactly once (a report in flight at the
    /// kill may or may not have been spooled: at most one per client).
    @Test func killNineDuringABurstLosesNoAnsweredReport() async throws {
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-kill", fixture: fixture)
        defer { world.close() }
        let accounts = ["ann", "bob", "cyd", "dee"]
        for account in accounts { try await world.addAccount(account) }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await Server.start(world, in: directory, name: "first")
        var killed = false
        defer { if !killed { kill(first.pid, SIGKILL); _ = ChildProcess.waitForExit(first.pid) } }

        let clients = 8, perClient = 250
        let answered = Counter()
        let pid = first.pid
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for index in 0..<perClient {
                        let login = world.address(accounts[(client + index) % accounts.count])
                        guard first.report(login, "127.0.1.\(1 + client)", success: index % 3 != 0) == 200 else { return }
                        if answered.add() == clients * perClient / 2 { kill(pid, SIGKILL) }
                    }
                }
            }
        }
        _ = ChildProcess.waitForExit(first.pid)
        killed = true
        let acknowledged = answered.value
        #expect(acknowledged >= clients * perClient / 2, "\(first.output)")
        #expect(acknowledged < clients * perClient, "the kill came after the burst")

        let second = try await Server.start(world, in: directory, name: "second")
        defer { kill(second.pid, SIGTERM); _ = ChildProcess.waitForExit(second.pid) }
        var recorded = 0
        for _ in 0..<600 {
            recorded = try await Self.eventCount(world, accounts: accounts)
            if recorded >= acknowledged { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Let a duplicate, if the drainer made one, show up before the upper bound is checked.
        try await Task.sleep(for: .milliseconds(500))
        recorded = try await Self.eventCount(world, accounts: accounts)
        #expect(recorded >= acknowledged, "\(second.output)")
        #expect(recorded <= acknowledged + clients, "duplicates: \(recorded) events for \(acknowledged) answered")
    }

    /// Issue 12: slapd stopped during a burst: every report is still answered 200 (spooled) and
    /// written once slapd is back. The account can not be read meanwhile, so the events carry the
    /// login tried and, for failures, `mail_server_error`.
    @Test func reportsDuringASlapdOutageAreWrittenWhenItReturns() async throws {
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-outage", fixture: fixture)
        defer { world.close() }
        let accounts = ["eve", "fay"]
        for account in accounts { try await world.addAccount(account) }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await Server.start(world, in: directory)
        defer { kill(server.pid, SIGTERM); _ = ChildProcess.waitForExit(server.pid) }

        fixture.slapd.stop()
        // Each report waits out LDAPClient's read retries (about 1.5 s) before it is spooled
        // unresolved, so the 40 reports come from 8 clients at once.
        let answered = Counter()
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for index in 0..<5 {
                        let login = world.address(accounts[(client + index) % 2])
                        if server.report(login, "127.0.2.\(1 + client % 3)", success: index % 4 != 0) == 200 { _ = answered.add() }
                    }
                }
            }
        }
        #expect(answered.value == 40, "\(server.output)")
        try fixture.slapd.start()
        var recorded = 0
        for _ in 0..<600 {
            recorded = try await Self.eventCount(world, accounts: accounts)
            if recorded >= 40 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await Self.eventCount(world, accounts: accounts) == 40, "\(server.output)")
        // The drainer found each login's account once slapd was back.
        #expect(try await Self.eventCount(world, accounts: accounts, byAccountRef: true) == 40, "\(server.output)")
    }

    /// Issue 12: slapd stopped for 10 s in the middle of a burst from 8 keep-going clients.
    /// Every report is answered 200 throughout (the outage breaker answers from the spool at
    /// once instead of waiting on slapd), and every answered event is in the audit once slapd
    /// is back, under its account, counted exactly.
    @Test func aTenSecondOutageInTheMiddleOfABurstLosesNothing() async throws {
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-burst", fixture: fixture)
        defer { world.close() }
        let accounts = ["gia", "hal", "ivy", "jon"]
        for account in accounts { try await world.addAccount(account) }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await Server.start(world, in: directory)
        defer { kill(server.pid, SIGTERM); _ = ChildProcess.waitForExit(server.pid) }

        let answered = Counter(), refused = Counter(), duringOutage = Counter(), refusals = Lines()
        let phase = Counter() // 0 before, 1 during the outage, 2 after, 3 stop
        // Blocking sockets, so the clients run on threads of their own, not Swift's pool.
        let clients = BlockingThreads.run(count: 8) { client in
            var index = 0
            while true {
                let current = phase.value
                if current == 3 { return }
                let login = world.address(accounts[(client + index) % accounts.count])
                let status = server.report(login, "127.0.5.\(1 + client % 5)", success: index % 3 != 0)
                if status == 200 {
                    _ = answered.add()
                    if current == 1 { _ = duringOutage.add() }
                } else {
                    _ = refused.add()
                    refusals.append("phase \(current): \(status.map(String.init) ?? "no answer")")
                }
                index += 1
                usleep(40_000) // up to 200 reports a second in all: a busy mail server's rate, light enough for CI's parallel run
            }
        }
        try await Task.sleep(for: .seconds(2))
        fixture.slapd.stop()
        phase.set(1)
        try await Task.sleep(for: .seconds(10))
        phase.set(2)
        try fixture.slapd.start()
        try await Task.sleep(for: .seconds(2))
        phase.set(3)
        await clients.value
        #expect(refused.value == 0, "\(refusals.all)\n\(server.output.split(separator: "\n").filter { $0.contains(" error ") }.prefix(10).joined(separator: "\n"))")
        #expect(duringOutage.value > 0)
        let expected = answered.value
        var recorded = 0
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            recorded = try await Self.eventCount(world, accounts: accounts, byAccountRef: true)
            if recorded >= expected { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .milliseconds(500))
        let problems = server.output.split(separator: "\n").filter { $0.contains(" warning ") || $0.contains(" error ") }
        #expect(try await Self.eventCount(world, accounts: accounts, byAccountRef: true) == expected,
                "\(recorded) of \(expected) answered (\(duringOutage.value) during the outage)\n\(problems.prefix(20).joined(separator: "\n"))")
        #expect(try await Self.eventCount(world, accounts: accounts) == expected)
    }

    /// The sum of the folded counts of the accounts' audit entries.
    /// `byAccountRef`: only entries that name the account (`gwAccountRef`), not just the login tried.
    static func eventCount(_ world: PolicyWorld, accounts: [String], byAccountRef: Bool = false) async throws -> Int {
        let events = try DistinguishedName("ou=events,ou=audit,\(world.fixture.baseDN)")
        var total = 0
        for account in accounts {
            let filter: LDAPFilter = byAccountRef
                ? .equal("gwAccountRef", world.accountDN(account)) : .equal("gwLoginName", world.address(account))
            let entries = try await world.service.search(base: events, scope: .subtree, filter: filter,
                                                        attributes: ["gwEventCount"]).entries
            total += entries.reduce(0) { $0 + ($1.string("gwEventCount").flatMap { Int($0) } ?? 0) }
        }
        return total
    }
}

/// Runs `body(index)` on `count` threads of their own (for blocking socket clients, which
/// would starve Swift's cooperative pool); the task completes when all have returned.
enum BlockingThreads {
    static func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Task<Void, Never> {
        let finished = Counter()
        let done = AsyncStream<Void>.makeStream()
        for index in 0..<count {
            let thread = Thread {
                body(index)
                if finished.add() == count { done.continuation.finish() }
            }
            thread.start()
        }
        return Task { for await _ in done.stream {} }
    }
}

/// Thread-safe lines, for what a burst's clients saw.
final class Lines: Sendable {
    private let storage = LockedValue<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var all: [String] { storage.withLock { $0 } }
}

/// A thread-safe count for the burst's clients.
final class Counter: Sendable {
    private let storage = LockedValue(0)
    /// Adds one and returns the new value.
    func add() -> Int { storage.withLock { $0 += 1; return $0 } }
    var value: Int { storage.withLock { $0 } }
    func set(_ value: Int) { storage.withLock { $0 = value } }
}
