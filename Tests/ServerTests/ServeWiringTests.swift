import Directory
import DirectoryServer
import Foundation
import LDAPClient
import Logging
import ServiceLifecycle
import Testing
import TestSupport

/// `gwdir serve`'s own wiring in process: the connections on the HTTP event loop, the drainer
/// and every LDAP call on the connection's thread (``DirectoryServer/executor``), the reports
/// spooled. Run under ThreadSanitizer in CI (scripts/test.sh).
@Suite struct ServeWiringTests {
    @Test func concurrentReportsAndAllowsAreAnsweredAndEveryReportIsWritten() async throws {
        // A slapd of its own: the server's sweep purges stale IP blocks, other tests' included.
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-wiring", fixture: fixture)
        defer { world.close() }
        try await world.addAccount("alice")
        try await world.addAccount("carol", status: "suspended")
        let spool = try ServeProcessTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: spool) }
        let logger = Logger(label: "gwdir.serve.test")
        let handle = try RecorderHandle.spooled(context: world.context, geoIP: nil, directory: spool)
        let server = DirectoryServer(
            configuration: ServerConfiguration(port: 0, policyKey: TestKey.key), context: world.context, recorder: handle,
            executor: world.service.executor, logger: logger
        )
        let listening = AsyncStream.makeStream(of: Int.self)
        let group = ServiceGroup(configuration: .init(services: server.services { listening.continuation.yield($0) }, logger: logger))
        let running = Task {
            try await group.run()
            try await handle.drain()
        }
        var ports = listening.stream.makeAsyncIterator()
        let port = try #require(await ports.next())

        // Threads of blocking clients, each request on a connection of its own; alice's reports
        // alternate success and failure, each failure from an address of its own (no auto-block).
        let clients = 8, perClient = 24
        let subnet = Int.random(in: 0...255)
        let answers = await withTaskGroup(of: [(command: String, status: Int?, body: String?)].self) { tasks in
            for client in 0..<clients {
                tasks.addTask {
                    await Task.detached {
                        (0..<perClient).map { index -> (command: String, status: Int?, body: String?) in
                            let ip = "127.61.\(subnet).\(client * perClient + index + 1)"
                            let body: String, command: String
                            switch index % 3 {
                            case 0:
                                command = "allow"
                                body = policyBody(login: world.address("carol"), remote: ip, protocol: "imap")
                            default:
                                command = "report"
                                body = policyBody(login: world.address("alice"), remote: ip, protocol: "imap", success: index % 3 == 1, policyReject: false)
                            }
                            let answer = ServeProcessTests.http(port: port, "POST", "/dovecot/policy?command=\(command)", body: body, key: TestKey.value)
                            return (command, answer?.status, answer?.body)
                        }
                    }.value
                }
            }
            var all: [(command: String, status: Int?, body: String?)] = []
            for await part in tasks { all += part }
            return all
        }
        await group.triggerGracefulShutdown()
        try await running.value

        #expect(answers.count == clients * perClient)
        #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.filter { $0.status != 200 }.prefix(3))")
        let allows = answers.filter { $0.command == "allow" }
        #expect(allows.allSatisfy { $0.body == #"{"msg":"Account suspended","status":-1}"# })
        let reports = answers.count - allows.count
        let log = AuditLog(context: world.context, purgeInterval: nil)
        let entries = try await log.events(account: try DistinguishedName(world.accountDN("alice")))
        #expect(entries.reduce(0) { $0 + $1.count } == reports)
        #expect(entries.filter { $0.result == .failure }.reduce(0) { $0 + $1.count } == reports / 2)
        #expect(entries.filter { $0.result == .failure }.allSatisfy { $0.reason == .wrongPassword })
    }
}
