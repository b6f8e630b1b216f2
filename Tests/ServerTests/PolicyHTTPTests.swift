import Directory
import DirectoryServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LDAPClient
import Logging
import Testing

/// The endpoint over HTTP (Hummingbird's router test client) against the harness slapd.
@Suite struct PolicyHTTPTests {
    static let keyHeader = HTTPField.Name("X-API-Key")!

    func post(
        _ client: some TestClientProtocol, _ command: String, _ body: String, key: String? = TestKey.value
    ) async throws -> (status: HTTPResponse.Status, body: String) {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let key { headers[Self.keyHeader] = key }
        return try await client.execute(
            uri: "/dovecot/policy?command=\(command)", method: .post, headers: headers, body: ByteBuffer(string: body)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    func app(_ server: DirectoryServer) -> some ApplicationProtocol {
        Application(router: server.router())
    }

    @Test func allowRefusesWhatTheDirectoryForbids() async throws {
        let world = try await PolicyWorld.make("http-allow")
        defer { world.close() }
        try await world.addAccount("alice")
        try await world.addAccount("carol", status: "suspended")
        try await world.addAccount("dis", status: "disabled")
        try await world.addAccount("bob", services: ["imap"])
        try await world.addAccount("far", extra: [LDAPAttribute("gwAllowedNetwork", "10.0.0.0/8")])
        let (server, counting, _) = DirectoryServer.testing(world)
        try await app(server).test(.router) { client in
            func allow(_ uid: String, _ service: String = "imap", ip: String = "127.0.0.1") async throws -> String {
                let answer = try await post(client, "allow", policyBody(login: world.address(uid), remote: ip, protocol: service))
                #expect(answer.status == .ok)
                return answer.body
            }
            let value1 = try await allow("alice")
            #expect(value1 == #"{"msg":"","status":0}"#)
            let value2 = try await allow("nobody")
            #expect(value2 == #"{"msg":"","status":0}"#)
            let value3 = try await allow("carol")
            #expect(value3 == #"{"msg":"Account suspended","status":-1}"#)
            let value4 = try await allow("dis")
            #expect(value4 == #"{"msg":"Account disabled","status":-1}"#)
            let value5 = try await allow("bob", "pop3")
            #expect(value5 == #"{"msg":"Protocol not allowed (POP3/IMAP/SMTP)","status":-1}"#)
            let value6 = try await allow("bob", "imap")
            #expect(value6 == #"{"msg":"","status":0}"#)
            let value7 = try await allow("far")
            #expect(value7 == #"{"msg":"IP address not allowed","status":-1}"#)
            let value8 = try await allow("far", ip: "10.1.2.3")
            #expect(value8 == #"{"msg":"","status":0}"#)
        }
        #expect(counting.events.isEmpty, "allow records nothing")
    }

    @Test func reportRecordsOneEventWithTheDerivedReason() async throws {
        let world = try await PolicyWorld.make("http-report")
        defer { world.close() }
        let alice = try await world.addAccount("alice")
        try await world.addAccount("bob", services: ["imap"])
        let (server, counting, log) = DirectoryServer.testing(world)
        try await app(server).test(.router) { client in
            func report(_ uid: String, _ service: String, _ success: Bool, reject: Bool = false, ip: String = "127.0.0.7") async throws {
                let answer = try await post(client, "report", policyBody(login: world.address(uid), remote: ip, protocol: service, success: success, policyReject: reject))
                #expect(answer.status == .ok, "\(answer.body)")
            }
            try await report("alice", "imap", true)
            try await report("alice", "imap", false)
            try await report("ghost", "imap", false)
            try await report("bob", "pop3", false, reject: true)
            try await report("alice", "submission", true)
            // A protocol the audit has no type for: answered, not recorded.
            try await report("alice", "doveadm", true)
        }
        #expect(counting.events.map { $0.reason } == [nil, .wrongPassword, .unauthorizedUser, .pop3Disabled, nil])
        #expect(counting.events.map(\.type) == [.imap, .imap, .imap, .pop3, .smtp])
        let entries = try await log.events(account: try DistinguishedName(alice))
        #expect(entries.count == 3)
        #expect(entries.allSatisfy { $0.ip == "127.0.0.7" })
        let ghost = try await log.events(loginName: world.address("ghost"))
        #expect(ghost.first?.reason == .unauthorizedUser)
    }

    @Test func failuresCountTowardTheIPBlock() async throws {
        let world = try await PolicyWorld.make("http-block")
        defer { world.close() }
        try await world.addAccount("alice")
        let (server, _, _) = DirectoryServer.testing(world)
        let ip = "127.9.\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
        try await app(server).test(.router) { client in
            for _ in 0..<10 {
                _ = try await post(client, "report", policyBody(login: world.address("alice"), remote: ip, protocol: "imap", success: false, policyReject: false))
            }
            let refused = try await post(client, "allow", policyBody(login: world.address("alice"), remote: ip, protocol: "imap"))
            #expect(refused.body == #"{"msg":"IP address automatically blocked","status":-1}"#)
            let other = try await post(client, "allow", policyBody(login: world.address("alice"), remote: "127.8.0.1", protocol: "imap"))
            #expect(other.body == #"{"msg":"","status":0}"#)
        }
        try await IPBlockService(context: world.context).lift(IPAddress(ip)!)
    }

    @Test func badInputIsRefusedAndNothingIsWritten() async throws {
        let world = try await PolicyWorld.make("http-bad")
        defer { world.close() }
        try await world.addAccount("alice")
        let (server, counting, _) = DirectoryServer.testing(world)
        try await app(server).test(.router) { client in
            let good = policyBody(login: world.address("alice"), remote: "127.0.0.1", protocol: "imap", success: true, policyReject: false)
            let value9 = try await post(client, "report", good, key: nil)
            #expect(value9.status == .unauthorized)
            let value10 = try await post(client, "report", good, key: "wrong-key-wrong-key-wrong-key")
            #expect(value10.status == .unauthorized)
            let value11 = try await post(client, "report", good, key: TestKey.value + "x")
            #expect(value11.status == .unauthorized)
            let value12 = try await post(client, "report", "{\"login\":")
            #expect(value12.status == .badRequest)
            let value13 = try await post(client, "report", #"{"login":"a@b.test"}"#)
            #expect(value13.status == .badRequest)
            let value14 = try await post(client, "report", policyBody(login: "x\u{1}@b.test", remote: "127.0.0.1", protocol: "imap", success: true, policyReject: false))
            #expect(value14.status == .badRequest)
            let value15 = try await post(client, "report", policyBody(login: world.address("alice"), remote: "not-an-ip", protocol: "imap", success: true, policyReject: false))
            #expect(value15.status == .badRequest)
            let value16 = try await post(client, "frobnicate", good)
            #expect(value16.status == .badRequest)
            let huge = "{\"login\":\"" + String(repeating: "a", count: 70 * 1024) + "\"}"
            let value17 = try await post(client, "report", huge)
            #expect(value17.status == .contentTooLarge)
            // Still serving.
            let value18 = try await post(client, "report", good)
            #expect(value18.status == .ok)
        }
        #expect(counting.events.count == 1, "only the last, valid report is recorded")
    }

    @Test func healthSaysWhetherTheDirectoryAnswers() async throws {
        let world = try await PolicyWorld.make("http-health")
        defer { world.close() }
        let (server, _, _) = DirectoryServer.testing(world)
        try await app(server).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""directory":"reachable""#))
            }
        }
        // A directory nobody listens on.
        let dead = LDAPConnection(configuration: LDAPConfiguration(
            uris: ["ldap://127.0.0.1:1"], credentials: .anonymous, connectTimeout: .seconds(1), requestTimeout: .seconds(2)
        ))
        defer { dead.close() }
        var unreachable = server
        unreachable.context = DirectoryContext(ldap: dead, layout: world.context.layout)
        try await app(unreachable).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains(#""directory":"unreachable""#))
            }
        }
    }

    @Test func anUnreachableDirectoryFailsOpenOrClosed() async throws {
        let world = try await PolicyWorld.make("http-fail")
        defer { world.close() }
        let dead = LDAPConnection(configuration: LDAPConfiguration(
            uris: ["ldap://127.0.0.1:1"], credentials: .anonymous, connectTimeout: .seconds(1), requestTimeout: .seconds(2)
        ))
        defer { dead.close() }
        let deadContext = DirectoryContext(ldap: dead, layout: world.context.layout)
        for mode in PolicyFailMode.allCases {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let server = DirectoryServer(
                configuration: ServerConfiguration(policyKey: TestKey.key, failMode: mode), context: deadContext,
                recorder: RecorderHandle.auditLog(context: deadContext, geoIP: nil), logger: logger
            )
            try await Application(router: server.router()).test(.router) { client in
                let answer = try await post(client, "allow", policyBody(login: "a@b.test", remote: "127.0.0.1", protocol: "imap"))
                #expect(answer.status == .ok)
                #expect(answer.body == (mode == .open ? #"{"msg":"","status":0}"# : #"{"msg":"Mail server error","status":-1}"#))
                let report = try await post(client, "report", policyBody(login: "a@b.test", remote: "127.0.0.1", protocol: "imap", success: true, policyReject: false))
                #expect(report.status == .serviceUnavailable)
            }
        }
    }
}
