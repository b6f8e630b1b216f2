import Directory
import Foundation
import LDAPClient
import GeoIP
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Where `gwdir serve` records logins, the services that keep the record moving (the last-login
/// sweep, the spool's drainer) and what must happen before the process exits. The one seam
/// between the endpoint and storage.
public struct RecorderHandle: Sendable {
    public var recorder: any LoginRecorder
    /// Run in the server's `ServiceGroup` before the HTTP server, so they stop after it (a
    /// group stops its services in reverse order): the drainer writes what the last requests
    /// spooled, then the sweep writes the deferred last logins.
    public var services: [any Service]
    /// Runs once after the group stopped (SIGTERM/SIGINT): writes what is still deferred.
    public var drain: @Sendable () async throws -> Void

    public init(recorder: any LoginRecorder, services: [any Service] = [], drain: @escaping @Sendable () async throws -> Void) {
        self.recorder = recorder
        self.services = services
        self.drain = drain
    }

    /// The audit log written directly (a report is answered once slapd has it): for tests and
    /// for a deployment that prefers no local state. Deferred last logins are swept on time.
    public static func auditLog(context: DirectoryContext, geoIP: GeoIPDatabase?) -> RecorderHandle {
        let log = AuditLog(context: context, geoIP: geoIP)
        return RecorderHandle(recorder: log, services: [AuditSweepService(log: log, clock: ContinuousClock())],
                              drain: { try await log.flushLastLogins() })
    }

    /// The default of `gwdir serve`: a report is answered once it is fsync'd in the spool under
    /// `directory`; the drainer writes it to slapd in order, retrying while slapd is away, and a
    /// restart after `kill -9` finishes what was spooled (README, "Nothing accepted is lost").
    public static func spooled(context: DirectoryContext, geoIP: GeoIPDatabase?, directory: URL) throws -> RecorderHandle {
        let log = AuditLog(context: context, geoIP: geoIP)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log, resolver: MailAccountResolver(context: context))
        return RecorderHandle(
            recorder: recorder,
            services: [AuditSweepService(log: log, clock: ContinuousClock()), recorder.drainer(clock: ContinuousClock())],
            drain: {
                try await recorder.drainAvailable()
                try recorder.spool.flushCheckpoint()
                try await log.flushLastLogins()
            }
        )
    }
}

/// A service run with a task-executor preference, which the tasks it starts inherit
/// (Hummingbird's per-connection handlers, the drainer's writes).
struct PreferringExecutor: Service {
    var service: any Service
    var executor: any TaskExecutor

    func run() async throws {
        try await withTaskExecutorPreference(executor) { try await service.run() }
    }
}

/// Runs the jobs of the tasks that prefer it on one SwiftNIO event loop (NIO 2.101's loops are
/// serial executors, not task executors): HTTP connections handled on their channel's own
/// loop read requests and write answers without a thread hop each way.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// `gwdir serve`: Dovecot's auth-policy endpoint and the health check, on Hummingbird 2,
/// run in a swift-service-lifecycle `ServiceGroup` so SIGTERM/SIGINT stop accepting, let
/// in-flight requests finish, and then drain the recorder.
public struct DirectoryServer: Sendable {
    public var configuration: ServerConfiguration
    public var context: DirectoryContext
    public var policy: MailLoginPolicy
    public var recorder: RecorderHandle
    public var logger: Logger
    /// Where the recorder's services run (the drainer's writes): the LDAP connection's thread
    /// (`LDAPConnection.executor`), so their LDAP calls do not hop to it and back. Given one,
    /// the HTTP connections run on their own event loop (``httpEventLoop``), where requests are
    /// read and answered without hops; only a request's LDAP calls go to the connection's
    /// thread (the report benchmark's process CPU per event: about a tenth less than with the
    /// handlers on the LDAP thread). nil: Swift's global pool and NIO's singleton loops.
    public var executor: (any TaskExecutor)?

    public init(
        configuration: ServerConfiguration, context: DirectoryContext, recorder: RecorderHandle,
        ipBlockPolicy: IPBlockPolicy = .standard, executor: (any TaskExecutor)? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.context = context
        self.recorder = recorder
        self.executor = executor
        self.policy = MailLoginPolicy(context: context, recorder: recorder.recorder, ipBlockPolicy: ipBlockPolicy, logger: logger)
        self.logger = logger
    }

    public static let policyPath = "/dovecot/policy"
    /// One loop, shared by the servers of a process (as NIO's singleton, never shut down): the
    /// connections' handlers run on it (``EventLoopTaskExecutor``), so a channel on another loop
    /// would hop again; and a request's directory work runs on the LDAP connection's one thread
    /// anyway. At about 75 µs of loop CPU per report here, one loop answers some 13,000 a
    /// second, several times what the drainer writes.
    static let httpEventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// Dovecot's `auth_policy_server_api_header` (made once: a name is validated when made).
    static let apiKeyHeader = HTTPField.Name("X-API-Key")!

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.get("/health") { _, context in await self.health(logger: context.logger) }
        router.post("/dovecot/policy") { request, context in await self.policy(request, logger: context.logger) }
        return router
    }

    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "gwdir"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            eventLoopGroupProvider: executor == nil ? .singleton : .shared(Self.httpEventLoop),
            logger: logger
        )
    }

    /// The recorder's services, then the HTTP server (a group stops them in reverse order):
    /// with an ``executor``, the recorder's on it and the server's on ``httpEventLoop``.
    public func services(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let http = application(onServerRunning: onServerRunning)
        guard let executor else { return recorder.services + [http] }
        return recorder.services.map { PreferringExecutor(service: $0, executor: executor) }
            + [PreferringExecutor(service: http, executor: EventLoopTaskExecutor(Self.httpEventLoop.next()))]
    }

    /// Serves until SIGTERM or SIGINT (or cancellation), then drains the recorder. A failed
    /// drain is thrown: the caller exits non-zero, so an operator sees deferred logins were lost.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = ServiceGroup(configuration: .init(
            services: services(onServerRunning: onServerRunning),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        do {
            try await recorder.drain()
            logger.info("recorder drained")
        } catch {
            logger.error("draining the recorder failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    // MARK: Handlers

    func health(logger: Logger) async -> Response {
        do {
            _ = try await context.ldap.entry(context.layout.base, attributes: ["1.1"])
            return Self.json(.ok, #"{"directory":"reachable","status":"ok"}"#)
        } catch {
            logger.warning("health: directory unreachable", metadata: ["error": "\(error)"])
            return Self.json(.serviceUnavailable, #"{"directory":"unreachable","status":"unavailable"}"#)
        }
    }

    func policy(_ request: Request, logger: Logger) async -> Response {
        guard configuration.policyKey.matches(request.headers[Self.apiKeyHeader]) else {
            logger.warning("policy: refused, missing or wrong X-API-Key")
            return Self.json(.unauthorized, #"{"status":-1,"msg":"unauthorized"}"#)
        }
        let body: [UInt8]
        do {
            body = try await Self.collect(request, limit: configuration.maxBodySize)
        } catch let invalid as PolicyRequest.Invalid {
            logger.warning("policy: refused, \(invalid.cause)")
            return Self.json(.init(code: invalid.status), #"{"status":-1,"msg":"bad request"}"#)
        } catch {
            logger.warning("policy: reading the body failed", metadata: ["error": "\(error)"])
            return Self.json(.badRequest, #"{"status":-1,"msg":"bad request"}"#)
        }
        let decoded: PolicyRequest
        do {
            decoded = try PolicyRequest.decode(command: request.uri.queryParameters["command"].map(String.init), body: body)
        } catch {
            logger.warning("policy: refused, \(error.cause)")
            return Self.json(.init(code: error.status), #"{"status":-1,"msg":"bad request"}"#)
        }
        // Built only for a line that is logged (the common answer logs nothing at info).
        func metadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            [
                "command": "\(decoded.command.rawValue)", "login": "\(decoded.login)", "protocol": "\(decoded.service)",
                "ip": "\(decoded.ip.map(\.description) ?? "-")",
            ].merging(extra) { $1 }
        }
        switch decoded.command {
        case .allow:
            do {
                guard let reason = try await policy.allow(decoded.attempt) else { return Self.answer(.allowed) }
                logger.info("policy: refused before authentication", metadata: metadata(["reason": "\(reason.rawValue)"]))
                return Self.answer(.refused(reason))
            } catch {
                logger.error("policy: directory failed, failing \(configuration.failMode.rawValue)", metadata: metadata(["error": "\(error)"]))
                return Self.answer(configuration.failMode == .open ? .allowed : .refused(.mailServerError))
            }
        case .report:
            do {
                let event = try await policy.report(
                    decoded.attempt, success: decoded.success ?? false, policyRejected: decoded.policyRejected ?? false
                )
                if let event {
                    logger.debug("policy: recorded", metadata: metadata([
                        "result": "\(event.result.rawValue)", "reason": "\(event.reason?.rawValue ?? "-")",
                    ]))
                } else {
                    logger.info("policy: not recorded, the audit has no type for this protocol", metadata: metadata())
                }
                return Self.answer(.allowed)
            } catch {
                logger.error("policy: report not recorded", metadata: metadata(["error": "\(error)"]))
                return Self.json(.serviceUnavailable, #"{"status":0,"msg":"not recorded"}"#)
            }
        }
    }

    /// The body, refused with 413 beyond `limit` (by Content-Length before reading any of it).
    static func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        let tooLarge = PolicyRequest.Invalid(status: 413, "body larger than \(limit) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        var bytes: [UInt8] = []
        for try await chunk in request.body {
            guard bytes.count + chunk.readableBytes <= limit else { throw tooLarge }
            bytes += chunk.readableBytesView
        }
        return bytes
    }

    static func answer(_ answer: PolicyAnswer) -> Response {
        json(.ok, answer.json)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
