import DirectorySchema
import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// Two local slapd nodes, each a provider and a consumer of the other (syncrepl multi-provider),
/// configured from `schema/slapd/config.ldif` + `schema/slapd/replication.ldif` exactly as
/// `docker/slapd/entrypoint.sh` configures the two containers of `docker/compose.yaml`.
struct ReplicatedPair {
    let a: SlapdInstance
    let b: SlapdInstance
    let directory: URL
    static let baseDN = "dc=example,dc=com"

    var rootCredentials: LDAPCredentials { .simple(dn: a.rootDN, password: a.rootPassword) }

    /// Both ports are chosen before either node starts: each node's syncrepl names the other.
    static func start() throws -> ReplicatedPair {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-repl-\(UUID().uuidString.prefix(8))")
        let portA = try SlapdInstance.freeLoopbackPort()
        var portB = try SlapdInstance.freeLoopbackPort()
        while portB == portA { portB = try SlapdInstance.freeLoopbackPort() }
        // The nodes replicate as the root DN, so both share its password.
        let password = SlapdOptions.randomPassword()
        func node(_ name: String, serverID: Int, port: Int, peerPort: Int) throws -> SlapdInstance {
            let paths = SlapdPaths()
            let changes = try DirectorySchema.render(DirectorySchema.template("slapd/replication.ldif"), [
                "SERVER_ID": String(serverID),
                "RID": String(format: "%03d", serverID),
                "PEER_URI": "ldap://127.0.0.1:\(peerPort)",
                "MODULE_PATH": paths.modules,
                "BASE_DN": baseDN,
                "ROOT_DN": "cn=manager,\(baseDN)",
                "ROOT_PW_CLEAR": password,
            ])
            let options = SlapdOptions(
                directory: directory.appendingPathComponent(name), baseDN: baseDN, rootPassword: password,
                port: port, configurationChanges: [changes], paths: paths
            )
            let instance = SlapdInstance(options: options)
            try instance.configureIfNeeded()
            return instance
        }
        let a = try node("a", serverID: 1, port: portA, peerPort: portB)
        let b = try node("b", serverID: 2, port: portB, peerPort: portA)
        let pair = ReplicatedPair(a: a, b: b, directory: directory)
        do {
            try a.start()
            try b.start()
            // Only one node is seeded (as docker's slapd1); the other receives the tree by syncrepl.
            try a.ldapadd(SlapdInstance.baseEntriesLDIF(baseDN: baseDN))
        } catch {
            pair.destroy()
            throw error
        }
        return pair
    }

    func destroy() {
        a.destroy()
        b.destroy()
        try? FileManager.default.removeItem(at: directory)
    }

    func connection(_ node: SlapdInstance) -> LDAPConnection {
        LDAPConnection(configuration: LDAPConfiguration(uri: node.uri, credentials: rootCredentials))
    }
}

/// Polls a node until `predicate` holds for the entry at `dn` (nil = no such entry), for up to
/// `timeout`. Connection errors count as "not yet" (the node may be restarting).
func eventually(
    _ connection: LDAPConnection, _ dn: String, timeout: Duration = .seconds(30),
    _ predicate: (LDAPEntry?) -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        do {
            let result = try await connection.search(base: dn.parsedDN, scope: .base, attributes: ["*", "+"])
            if predicate(result.entries.first) { return true }
        } catch let error as LDAPError where error.code == .noSuchObject {
            if predicate(nil) { return true }
        } catch {}
        try? await Task.sleep(for: .milliseconds(100))
    }
    return false
}

func account(_ uid: String, under parent: String) -> (String, [LDAPAttribute]) {
    ("uid=\(uid),\(parent)", [
        LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
        LDAPAttribute("uid", uid),
        LDAPAttribute("cn", uid),
        LDAPAttribute("sn", uid),
        LDAPAttribute("mail", "\(uid)@acme.example"),
        LDAPAttribute("gwAccountStatus", "active"),
    ])
}

@Suite(.serialized) struct ReplicationTests {
    @Test func writesOnEitherProviderReachTheOther() async throws {
        let pair = try ReplicatedPair.start()
        defer { pair.destroy() }
        let a = pair.connection(pair.a)
        let b = pair.connection(pair.b)
        let base = ReplicatedPair.baseDN
        // B starts empty and receives the whole tree by its first refresh; wait for that first.
        #expect(await eventually(b, base) { $0 != nil })

        // The seed made on A reached B.
        #expect(await eventually(b, "ou=audit,\(base)") { $0 != nil })

        // Add on A -> appears on B (main database).
        let (dn, attributes) = account("alice", under: base)
        try await a.add(dn: dn.parsedDN, attributes: attributes)
        #expect(await eventually(b, dn) { $0?.string("mail") == "alice@acme.example" })

        // Modify on B -> appears on A; the entryCSN names server 2 as the origin.
        try await b.modify(dn: dn.parsedDN, [.replace("gwAccountStatus", ["suspended"]), .replace("sn", ["김"])])
        #expect(await eventually(a, dn) { $0?.string("gwAccountStatus") == "suspended" && $0?.string("sn") == "김" })
        let onA = try await a.search(base: dn.parsedDN, scope: .base, attributes: ["entryCSN"]).entries.first
        #expect(onA?.string("entryCSN")?.contains("#002#") == true)

        // The glued audit database replicates too, both ways.
        let eventID = "e-\(UUID().uuidString.prefix(8))"
        let event = "gwEventId=\(eventID),ou=audit,\(base)"
        try await b.add(dn: event.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwLoginEvent"]),
            LDAPAttribute("gwEventId", eventID),
            LDAPAttribute("gwLoginResult", "failure"),
            LDAPAttribute("gwEventCount", "1"),
        ])
        #expect(await eventually(a, event) { $0?.string("gwLoginResult") == "failure" })
        try await a.modify(dn: event.parsedDN, [.increment("gwEventCount", by: 2)])
        #expect(await eventually(b, event) { $0?.string("gwEventCount") == "3" })

        // Delete on A -> gone on B.
        try await a.delete(dn: dn.parsedDN)
        #expect(await eventually(b, dn) { $0 == nil })
    }

    @Test func stoppedProviderCatchesUpAfterRestart() async throws {
        let pair = try ReplicatedPair.start()
        defer { pair.destroy() }
        let a = pair.connection(pair.a)
        let b = pair.connection(pair.b)
        let base = ReplicatedPair.baseDN
        // B starts empty and receives the whole tree by its first refresh; wait for that first.
        #expect(await eventually(b, base) { $0 != nil })
        let (kept, keptAttributes) = account("kept", under: base)
        let (gone, goneAttributes) = account("gone", under: base)
        try await a.add(dn: kept.parsedDN, attributes: keptAttributes)
        try await a.add(dn: gone.parsedDN, attributes: goneAttributes)
        #expect(await eventually(b, gone) { $0 != nil })

        pair.a.stop()
        let (added, addedAttributes) = account("added", under: base)
        try await b.add(dn: added.parsedDN, attributes: addedAttributes)
        try await b.modify(dn: kept.parsedDN, [.replace("gwAccountStatus", ["disabled"])])
        try await b.delete(dn: gone.parsedDN)
        let event = "gwEventId=while-down,ou=audit,\(base)"
        try await b.add(dn: event.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwLoginEvent"]), LDAPAttribute("gwEventId", "while-down"),
        ])

        try pair.a.start()
        #expect(await eventually(a, added) { $0 != nil })
        #expect(await eventually(a, kept) { $0?.string("gwAccountStatus") == "disabled" })
        #expect(await eventually(a, gone) { $0 == nil })
        #expect(await eventually(a, event) { $0 != nil })

        // And A is a provider again: its writes reach B.
        try await a.modify(dn: added.parsedDN, [.replace("sn", ["back"])])
        #expect(await eventually(b, added) { $0?.string("sn") == "back" })
    }

    @Test func connectionWithTwoURIsKeepsReadingWhenTheFirstStops() async throws {
        let pair = try ReplicatedPair.start()
        defer { pair.destroy() }
        let base = ReplicatedPair.baseDN
        // B starts empty and receives the whole tree by its first refresh; wait for that first.
        #expect(await eventually(pair.connection(pair.b), base) { $0 != nil })
        let connection = LDAPConnection(configuration: LDAPConfiguration(
            uris: [pair.a.uri, pair.b.uri], credentials: pair.rootCredentials, connectTimeout: .seconds(2)
        ))
        defer { connection.close() }
        let (dn, attributes) = account("reader", under: base)
        try await connection.add(dn: dn.parsedDN, attributes: attributes)  // goes to A, the first URI
        #expect(await eventually(pair.connection(pair.b), dn) { $0 != nil })
        #expect(try await connection.search(base: dn.parsedDN, scope: .base).entries.count == 1)

        pair.a.stop()
        // The open socket to A is gone; the read reconnects, libldap skips A and lands on B.
        let afterFailover = try await connection.search(base: dn.parsedDN, scope: .base, attributes: ["mail"])
        #expect(afterFailover.entries.first?.string("mail") == "reader@acme.example")
        #expect(try await connection.whoAmI() == "dn:\(pair.a.rootDN)")
        // Writes go to B now (the connection re-bound there), and reach A once it is back.
        try await connection.modify(dn: dn.parsedDN, [.replace("sn", ["via-b"])])
        try pair.a.start()
        #expect(await eventually(pair.connection(pair.a), dn) { $0?.string("sn") == "via-b" })
    }
}
