// The policy benchmark (issue 12): Dovecot's auth-policy endpoint of `gwdir serve` over HTTP.
// - report: 256 keep-alive connections send report requests back to back, spool on; the rate
//   counts until every report is answered and the spool has drained into slapd, against the
//   in-process AuditLog recording the same events (AuditBench.record) in the same run; that
//   AuditLog, like the server's, lives for the whole benchmark (warm, as a long-running server).
// - allow: an open-loop load at a fixed rate; latency from each request's scheduled send time.
// The server is DirectoryServer in this process (as `gwdir serve` builds it: one service-account
// connection, RecorderHandle.spooled), on 127.0.0.1 and an ephemeral port. The report load comes
// from ClosedLoopHTTPLoad (epoll, requests encoded beforehand, as wrk); the allow load from
// SwiftNIO's HTTP/1.1 codec on an event loop of its own (its schedule needs timers).
import Directory
import DirectoryServer
import Foundation
import LDAPClient
import LocalSlapd
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

// MARK: Workload

/// Dovecot's policy requests and the login events they stand for: 97% known accounts (each
/// from one of two addresses of its own, so repeats fold), 90% of them successes, the rest wrong
/// passwords; 3% unknown logins; IMAP 60%, POP3 25%, submission 15%.
struct PolicyWorkload: Sendable {
    struct Attempt: Sendable {
        var login: String
        /// nil for an unknown login.
        var account: Int?
        var ip: String
        var service: String
        var success: Bool
    }

    var attempts: [Attempt] = []

    init(count: Int, users: Int, accounts: Int, seed: UInt64, domain: String) {
        var random = UserSequence(seed: seed, users: 1 << 30)
        // u0 and u1 belong to the bind and increment benchmarks.
        let accounts = max(1, min(users - 2, accounts))
        for index in 0..<count {
            let service = switch random.next() % 20 {
            case 0..<12: "imap"
            case 12..<17: "pop3"
            default: "submission"
            }
            if random.next() % 100 < 3 {
                let ghost = random.next() % 500
                attempts.append(Attempt(login: "ghost\(ghost)@\(domain)", account: nil, ip: "203.0.113.\(ghost % 250 + 1)",
                                        service: service, success: false))
            } else {
                let account = 2 + random.next() % accounts
                let ip = "10.\((account >> 8) & 255).\(account & 255).\(1 + random.next() % 2)"
                attempts.append(Attempt(login: "u\(account)@\(domain)", account: account, ip: ip, service: service,
                                        success: random.next() % 10 != 0))
            }
            _ = index
        }
    }

    /// The JSON Dovecot 2.3 sends (docker/dovecot/auth-policy.conf.ext's attributes).
    static func body(_ attempt: Attempt, command: PolicyCommand, session: Int) -> ByteBuffer {
        var text = #"{"login":"\#(attempt.login)","pwhash":"5d1f","remote":"\#(attempt.ip)","device_id":"","protocol":"\#(attempt.service)","session_id":"s\#(session)""#
        if command == .report { text += #","success":\#(attempt.success),"policy_reject":false,"tls":false"# }
        return ByteBuffer(string: text + "}")
    }

    func requests(_ command: PolicyCommand) -> [PolicyHTTPRequest] {
        attempts.enumerated().map { index, attempt in
            PolicyHTTPRequest(uri: "\(DirectoryServer.policyPath)?command=\(command.rawValue)", body: Self.body(attempt, command: command, session: index))
        }
    }

    /// The events the server derives from the reports, at `t0` + 1 ms apart: the baseline's input.
    func events(_ bench: BenchDirectory, t0: Date) -> [LoginEvent] {
        attempts.enumerated().map { index, attempt in
            let type = MailLoginRules.mailProtocol(dovecotService: attempt.service)!.loginType
            return LoginEvent(
                time: t0.addingTimeInterval(Double(index) / 1000), accountDN: attempt.account.map { AuditBench.parsedAccountDN(bench, $0) },
                loginName: attempt.login, type: type, client: type.rawValue, ip: IPAddress(attempt.ip), country: nil,
                outcome: attempt.success ? .success : .failure(attempt.account == nil ? .unauthorizedUser : .wrongPassword)
            )
        }
    }
}

// MARK: The server under test

/// The clock of the server's DirectoryContext: real time elapsed since `jump(to:)`, from an epoch
/// that each run moves three days on, so no run folds into another's entries (AuditBench does
/// the same) and runs are verified by their time window.
final class BenchClock: Sendable {
    private let state = Mutex<(epoch: Date, start: Double)>((Date(timeIntervalSince1970: 0), 0))
    func jump(to epoch: Date) { state.withLock { $0 = (epoch, monotonicSeconds()) } }
    func now() -> Date { state.withLock { $0.epoch.addingTimeInterval(monotonicSeconds() - $0.start) } }
}

/// DirectoryServer in this process, as `gwdir serve` wires it: bound as the service account on
/// one connection, reports spooled (fsync'd) in a temporary directory and drained to slapd.
final class BenchPolicyServer: Sendable {
    let port: Int
    let key: String
    let spooled: SpooledLoginRecorder
    let clock: BenchClock
    private let connection: LDAPConnection
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let spoolDirectory: URL

    private init(port: Int, key: String, spooled: SpooledLoginRecorder, clock: BenchClock, connection: LDAPConnection,
                 group: ServiceGroup, running: Task<Void, any Error>, spoolDirectory: URL) {
        self.port = port
        self.key = key
        self.spooled = spooled
        self.clock = clock
        self.connection = connection
        self.group = group
        self.running = running
        self.spoolDirectory = spoolDirectory
    }

    /// Policy runs' epochs: from 2029-01-01, three days apart, before AuditBench's (2030), so the
    /// server's hourly retention purge (60 days back) never reaches the audit benchmark's entries.
    static func epoch(_ run: Int) -> Date {
        Date(timeIntervalSince1970: 1_861_920_000 + Double(run) * 3 * 86_400)
    }

    static func start(_ bench: BenchDirectory, as credentials: LDAPCredentials) async throws -> BenchPolicyServer {
        let connection = try await LDAPConnection.connect(configuration: bench.configuration(credentials))
        let clock = BenchClock()
        clock.jump(to: epoch(0))
        let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: bench.slapd.baseDN), now: { clock.now() })
        // On the machine's temporary directory (a disk here), not tmpfs: the fsync is part of the cost.
        let spoolDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-bench-spool-\(UUID().uuidString.prefix(8))")
        let handle: RecorderHandle
        do {
            handle = try RecorderHandle.spooled(context: context, geoIP: nil, directory: spoolDirectory)
        } catch {
            connection.close()
            throw error
        }
        guard let spooled = handle.recorder as? SpooledLoginRecorder else {
            connection.close()
            throw SlapdError(description: "RecorderHandle.spooled has no SpooledLoginRecorder")
        }
        // The handler `gwdir serve` bootstraps (gwdir's Logging.swift), at warning.
        let logger = Logger(label: "gwdir.bench.serve") { LazyMetadataLogHandler(label: $0, level: .warning) }
        let key = "bench-policy-key-\(UUID().uuidString)"
        let server = DirectoryServer(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0, policyKey: try PolicyKey(key)),
            context: context, recorder: handle, executor: connection.executor, logger: logger
        )
        let listening = AsyncStream.makeStream(of: Int.self)
        // DirectoryServer.run's group, stopped by a graceful shutdown (what SIGTERM does to
        // `gwdir serve`) rather than by cancellation, which Hummingbird logs as an error.
        let group = ServiceGroup(configuration: .init(
            services: server.services { port in listening.continuation.yield(port) }, logger: logger
        ))
        let running = Task {
            try await group.run()
            try await handle.drain()
        }
        var ports = listening.stream.makeAsyncIterator()
        // The run task ends the stream when the server stops before it listens.
        Task {
            _ = await running.result
            listening.continuation.finish()
        }
        guard let port = await ports.next() else {
            let result = await running.result
            connection.close()
            throw SlapdError(description: "the policy server stopped before listening: \(result)")
        }
        return BenchPolicyServer(port: port, key: key, spooled: spooled, clock: clock, connection: connection,
                                 group: group, running: running, spoolDirectory: spoolDirectory)
    }

    /// Every report answered so far is in slapd (the drainer's checkpoint reached the spool's
    /// end), and the deferred last logins are written too, as AuditBench's gwdir side ends.
    func drained() async throws {
        while spooled.spool.checkpoint < spooled.spool.durableSequence {
            try await Task.sleep(for: .milliseconds(2))
        }
        try await spooled.log.flushLastLogins()
    }

    /// Stops the server gracefully (in-flight requests finish, the spool drains), then closes its connection.
    func stop() async {
        await group.triggerGracefulShutdown()
        if case .failure(let error) = await running.result { print("policy server: \(error)") }
        connection.close()
        try? FileManager.default.removeItem(at: spoolDirectory)
    }
}

// MARK: HTTP client

struct PolicyHTTPRequest: Sendable {
    var uri: String
    var body: ByteBuffer
}

/// Latencies (seconds) and failures of a run's responses.
final class ResponseTally: Sendable {
    private struct State {
        var latencies: [Double] = []
        var answered = 0
        var refused = 0
        var errors = 0
        var firstError: String?
    }
    private let state = Mutex(State())

    func record(latency: Double, status: HTTPResponseStatus, body: String) {
        state.withLock { state in
            state.answered += 1
            state.latencies.append(latency)
            if status != .ok {
                state.errors += 1
                if state.firstError == nil { state.firstError = "HTTP \(status.code): \(body)" }
            } else if body.contains(#""status":-1"#) {
                state.refused += 1
            }
        }
    }

    func failed(_ error: String) {
        state.withLock { state in
            state.errors += 1
            if state.firstError == nil { state.firstError = error }
        }
    }

    var latencies: [Double] { state.withLock { $0.latencies } }
    var answered: Int { state.withLock { $0.answered } }
    var refused: Int { state.withLock { $0.refused } }
    var errors: Int { state.withLock { $0.errors } }
    var firstError: String? { state.withLock { $0.firstError } }
}

/// Starts a connection's requests: fired at every connection once all are connected.
struct StartSending: Sendable {
    /// The time request 0 is due.
    var start: NIODeadline
}

/// One keep-alive connection of the open-loop `allow` run: request `i` of the plan goes out at
/// `start + i · interval` on connection `i mod connections`, whatever is still in flight
/// (HTTP/1.1 pipelining), and its latency counts from that scheduled time, so a slow answer
/// cannot hide the requests queued behind it. (The report run's closed loop is
/// ``ClosedLoopHTTPLoad``.)
final class PolicyClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    enum Mode {
        case openLoop(requests: [PolicyHTTPRequest], interval: TimeAmount, connection: Int, connections: Int)
    }

    private let mode: Mode
    private let headers: HTTPHeaders
    private let tally: ResponseTally
    private let done: EventLoopPromise<Void>
    /// Send (or scheduled) times of the requests in flight, oldest first.
    private var inFlight = CircularBuffer<NIODeadline>()
    private var expected = 0
    private var status: HTTPResponseStatus = .ok
    private var body = ""
    private var finished = false

    init(mode: Mode, key: String, tally: ResponseTally, done: EventLoopPromise<Void>) {
        self.mode = mode
        self.tally = tally
        self.done = done
        headers = ["Host": "127.0.0.1", "Content-Type": "application/json", "X-API-Key": key, "Connection": "keep-alive"]
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? StartSending else { return context.fireUserInboundEventTriggered(event) }
        switch mode {
        case .openLoop(let requests, let interval, let connection, let connections):
            expected = connection < requests.count ? (requests.count - connection + connections - 1) / connections : 0
            if expected == 0 { return finish() }
            let loop = context.eventLoop.assumeIsolated()
            for index in stride(from: connection, to: requests.count, by: connections) {
                let due = start.start + interval * Int64(index)
                loop.scheduleTask(deadline: due) { self.send(requests[index], at: due, context: context) }
            }
        }
    }

    private func send(_ request: PolicyHTTPRequest, at time: NIODeadline, context: ChannelHandlerContext) {
        guard !finished else { return }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: request.uri, headers: headers)
        head.headers.add(name: "Content-Length", value: String(request.body.readableBytes))
        inFlight.append(time)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let sent = inFlight.popFirst() else { return }
            tally.record(latency: Double((NIODeadline.now() - sent).nanoseconds) / 1e9, status: status, body: body)
            expected -= 1
            if expected == 0 { finish() }
        }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        done.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished {
            finished = true
            tally.failed("connection closed with \(inFlight.count) requests unanswered")
            done.succeed(())
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        tally.failed("\(error)")
        context.close(promise: nil)
    }
}

/// `count` connections to the server, each with its handler; sending starts with `start`.
struct PolicyClient {
    let channels: [any Channel]
    let finished: [EventLoopFuture<Void>]

    static func connect(
        group: any EventLoopGroup, port: Int, count: Int, key: String, tally: ResponseTally,
        mode: @escaping @Sendable (Int) -> PolicyClientHandler.Mode
    ) async throws -> PolicyClient {
        var channels: [any Channel] = []
        var finished: [EventLoopFuture<Void>] = []
        for connection in 0..<count {
            let done = group.next().makePromise(of: Void.self)
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            PolicyClientHandler(mode: mode(connection), key: key, tally: tally, done: done)
                        )
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            channels.append(channel)
            finished.append(done.futureResult)
        }
        return PolicyClient(channels: channels, finished: finished)
    }

    func start(_ deadline: NIODeadline = .now()) {
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(StartSending(start: deadline)) }
    }

    func wait() async throws {
        for future in finished { try await future.get() }
    }

    func close() async {
        for channel in channels {
            do {
                try await channel.close()
            } catch ChannelError.alreadyClosed {
                // The server closed it first: nothing to do.
            } catch {
                print("policy bench: closing a client connection failed: \(error)")
            }
        }
    }
}

// MARK: The benchmark

enum PolicyBench {
    static let reportTarget = 0.8
    static let allowP99TargetMS = 5.0

    /// The service account, as `gwdir serve` binds; or the rootDN with `--policy-as root`.
    static func identity(_ options: Options, _ bench: BenchDirectory) -> (dn: String, credentials: LDAPCredentials) {
        options.policyAsRoot ? (bench.rootDN, bench.root) : (bench.serviceDN, bench.service)
    }

    static func run(_ options: Options, _ bench: BenchDirectory) async throws -> [String] {
        let server = try await BenchPolicyServer.start(bench, as: identity(options, bench).credentials)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let missed: [String]
        do {
            missed = try await report(options, bench, server, group) + allow(options, bench, server, group)
        } catch {
            await server.stop()
            // The benchmark's own error is the one to report; a failed shutdown is only noted.
            do { try await group.shutdownGracefully() } catch { print("policy bench: event loop shutdown failed: \(error)") }
            throw error
        }
        await server.stop()
        try await group.shutdownGracefully()
        return missed
    }

    /// Reports over HTTP (spooled, drained) against AuditLog in process, alternating which goes
    /// first; the ratio is the median of the rounds' own ratios (as AuditBench's).
    static func report(_ options: Options, _ bench: BenchDirectory, _ server: BenchPolicyServer, _ group: any EventLoopGroup) async throws -> [String] {
        let count = options.policyEvents, connections = options.policyConnections
        print("config policy events=\(count) connections=\(connections) accounts=\(options.policyAccounts) rounds=\(options.reportRounds) spool=on(tmp dir, fsync) server=in-process DirectoryServer as \(identity(options, bench).dn) "
              + "allow=\(options.allowRate)/s x \(options.allowSeconds)s over \(options.allowConnections) connections")
        var run = 1
        var http: [Measurement] = [], baseline: [Measurement] = [], ratios: [Double] = [], latencies: [Double] = []
        // The baseline's AuditLog lives as long as the server's: both know the accounts' newest
        // entries after their first run, so neither pays a cold search per account per run.
        let baselineConnection = try await LDAPConnection.connect(configuration: bench.configuration(identity(options, bench).credentials))
        defer { baselineConnection.close() }
        let baselineClock = BenchClock()
        let baselineLog = AuditLog(
            context: DirectoryContext(ldap: baselineConnection, layout: try DirectoryLayout(base: bench.slapd.baseDN), now: { baselineClock.now() }),
            purgeInterval: nil
        )
        for round in 0..<options.reportRounds {
            let workload = PolicyWorkload(count: count, users: options.users, accounts: options.policyAccounts, seed: UInt64(100 + round), domain: bench.domain)
            var latest: [String: Measurement] = [:]
            // When the HTTP side's last answer came; the rest of its time is the drain's tail.
            var answeredSeconds = 0.0
            var slapdMicros: [String: Double] = [:]
            for side in round.isMultiple(of: 2) ? ["http", "auditlog"] : ["auditlog", "http"] {
                let slapdBefore = bench.slapd.processID.flatMap(processCPUSeconds(of:))
                defer {
                    if let slapdBefore, let slapdAfter = bench.slapd.processID.flatMap(processCPUSeconds(of:)) {
                        slapdMicros[side] = (slapdAfter - slapdBefore) * 1e6 / Double(count)
                    }
                }
                let t0 = BenchPolicyServer.epoch(run)
                run += 1
                if side == "auditlog" {
                    let events = workload.events(bench, t0: t0)
                    baselineClock.jump(to: t0)
                    let measurement = try await Task.detached {
                        try await AuditBench.record(events, into: baselineLog, on: baselineConnection.executor, window: connections)
                    }.value
                    try await AuditBench.verify(bench, t0: t0, expected: count, side: "policy baseline")
                    latest[side] = measurement
                    baseline.append(measurement)
                } else {
                    let tally = ResponseTally()
                    let requests = workload.requests(.report).map { ClosedLoopHTTPLoad.encode($0, key: server.key) }
                    let client = try ClosedLoopHTTPLoad(port: server.port, connections: connections)
                    server.clock.jump(to: t0)
                    let threadsBefore = threadCPUSeconds()
                    defer {
                        if options.threadCPU {
                            let after = threadCPUSeconds()
                            let lines = after.map { ($0.key, ($0.value - (threadsBefore[$0.key] ?? 0)) * 1e6 / Double(count)) }
                                .filter { $0.1 >= 1 }.sorted { $0.1 > $1.1 }.map { String(format: "%@=%.0f", $0.0, $0.1) }
                            print("threads cpu_us/event: " + lines.joined(separator: " "))
                        }
                    }
                    var answeredAt = 0.0
                    let measurement = try await measure {
                        let start = monotonicSeconds()
                        await onThreadOfItsOwn { client.run(requests, tally: tally) }
                        answeredAt = monotonicSeconds() - start
                        try await server.drained()
                        return count
                    }
                    answeredSeconds = answeredAt
                    client.close()
                    guard tally.errors == 0, tally.answered == count else {
                        throw SlapdError(description: "policy report: \(tally.answered)/\(count) answered, \(tally.errors) errors, first: \(tally.firstError ?? "-")")
                    }
                    try await AuditBench.verify(bench, t0: t0, expected: count, side: "policy report over HTTP")
                    latest[side] = measurement
                    http.append(measurement)
                    latencies += tally.latencies
                }
            }
            let ratio = latest["http"]!.opsPerSecond / latest["auditlog"]!.opsPerSecond
            ratios.append(ratio)
            // slapd's CPU per event includes the verification search after each side.
            print(String(format: "round %d policy report http=%.0f auditlog=%.0f ratio=%.2f answered_s=%.2f drained_s=%.2f cpu_us http=%.0f auditlog=%.0f slapd_cpu_us http=%.0f auditlog=%.0f",
                         round + 1, latest["http"]!.opsPerSecond, latest["auditlog"]!.opsPerSecond, ratio, answeredSeconds, latest["http"]!.seconds,
                         latest["http"]!.cpuMicrosPerOp, latest["auditlog"]!.cpuMicrosPerOp,
                         slapdMicros["http"] ?? -1, slapdMicros["auditlog"] ?? -1))
        }
        let ratio = median(ratios)
        let pass = ratio >= reportTarget
        print(String(format: "bench policy_report events=%d connections=%d http_events_per_s=%.0f auditlog_events_per_s=%.0f ratio=%.2f target>=%.2f %@ "
                     + "answer_p50_ms=%.1f answer_p99_ms=%.1f cpu_us_http=%.0f cpu_us_auditlog=%.0f",
                     count, connections, median(http.map(\.opsPerSecond)), median(baseline.map(\.opsPerSecond)), ratio, reportTarget,
                     pass ? "PASS" : "FAIL", quantile(latencies, 0.5) * 1000, quantile(latencies, 0.99) * 1000,
                     median(http.map(\.cpuMicrosPerOp)), median(baseline.map(\.cpuMicrosPerOp))))
        return pass ? [] : [String(format: "policy_report ratio=%.2f<%.2f", ratio, reportTarget)]
    }

    /// `allow` at a fixed rate (open loop) for a fixed time.
    static func allow(_ options: Options, _ bench: BenchDirectory, _ server: BenchPolicyServer, _ group: any EventLoopGroup) async throws -> [String] {
        let count = options.allowRate * options.allowSeconds
        let workload = PolicyWorkload(count: count, users: options.users, accounts: options.policyAccounts, seed: 99, domain: bench.domain)
        let requests = workload.requests(.allow)
        let interval = TimeAmount.nanoseconds(Int64(1e9) / Int64(options.allowRate))
        let connections = options.allowConnections
        let tally = ResponseTally()
        let client = try await PolicyClient.connect(group: group, port: server.port, count: connections, key: server.key, tally: tally) { connection in
            .openLoop(requests: requests, interval: interval, connection: connection, connections: connections)
        }
        server.clock.jump(to: BenchPolicyServer.epoch(2 * options.reportRounds + 1))
        let start = monotonicSeconds()
        // A little ahead, so every connection has its schedule before the first request is due.
        client.start(.now() + .milliseconds(50))
        try await client.wait()
        let seconds = monotonicSeconds() - start - 0.05
        await client.close()
        guard tally.errors == 0, tally.answered == count else {
            throw SlapdError(description: "policy allow: \(tally.answered)/\(count) answered, \(tally.errors) errors, first: \(tally.firstError ?? "-")")
        }
        let latencies = tally.latencies
        let p99 = quantile(latencies, 0.99) * 1000
        let pass = p99 < allowP99TargetMS
        print(String(format: "bench policy_allow rate=%d/s n=%d connections=%d achieved_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f refused=%d target_p99<%.0fms %@",
                     options.allowRate, count, connections, Double(count) / seconds, quantile(latencies, 0.5) * 1000, quantile(latencies, 0.9) * 1000,
                     p99, (latencies.max() ?? 0) * 1000, tally.refused, allowP99TargetMS, pass ? "PASS" : "FAIL"))
        return pass ? [] : [String(format: "policy_allow p99_ms=%.2f>=%.0f", p99, allowP99TargetMS)]
    }
}
