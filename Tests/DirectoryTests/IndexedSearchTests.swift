import Directory
import Foundation
import LDAPClient
import Testing
import TestSupport

/// The admin services' searches are answered from slapd's indexes. With loglevel trace, slapd
/// 2.5 logs `=> mdb_equality_candidates (attr)` (or substring, inequality) for each filter
/// component and then, on the same thread, `=> key_read` when an index answers it; a
/// component with no index goes straight to a scan. No component of ours may scan.
@Suite struct IndexedSearchTests {
    @Test func adminSearchesUseIndexes() async throws {
        let fixture = try DirectoryFixture.start(logLevel: "trace")
        defer { fixture.slapd.destroy() }
        let connection = fixture.gwdirConnection()
        defer { connection.close() }
        let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN))
        _ = try await WorkspaceService(context).add(id: "acme", displayName: "Acme", domains: ["acme.test"])
        _ = try await UnitService(context).add("sales", workspace: "acme")
        _ = try await UnitService(context).add("east", workspace: "acme", parent: try UnitPath("sales"))
        let accounts = AccountService(context)
        _ = try await accounts.add(NewAccount(loginId: "minjun", workspace: "acme", unit: try UnitPath("sales/east"), firstName: "민준",
                                              lastName: "김", mail: "minjun@acme.test", password: "pw-1"))
        _ = try await AliasService(context).add(owner: "minjun@acme.test", alias: "mj@acme.test")
        _ = try await GroupService(context).add(.group, address: "team@acme.test", workspace: "acme", unit: try UnitPath("sales"),
                                                members: ["minjun@acme.test"])
        try await AdminService(context).grant("minjun@acme.test", workspace: "acme", unit: try UnitPath("sales"))
        for field in AccountSearchField.allCases {
            for prefix in [false, true] {
                _ = try await accounts.find(workspace: "acme", field: field, value: field == .mail ? "min" : "김", prefix: prefix)
                _ = try await accounts.find(workspace: "acme", unit: try UnitPath("sales"), field: field, value: "민준", prefix: prefix)
            }
        }
        _ = try await accounts.show("minjun@acme.test")
        _ = try await accounts.purgeDeleted()
        _ = try await AdminService(context).list(workspace: "acme", includeUnits: true)
        _ = try await UnitService(context).list(workspace: "acme")
        _ = try await WorkspaceService(context).workspace(servingDomain: "acme.test")
        #expect(try await accounts.account(mail: MailAddress("nobody@acme.test")) == nil)

        let unindexed = try Self.unindexed(fixture)
        #expect(unindexed.isEmpty, "searches that scan: \(unindexed)")

        // The check can fail: a filter on an attribute without an index is reported.
        _ = try await connection.search(base: fixture.workspacesDN.parsedDN, filter: .equal("description", "nothing"))
        #expect(try Self.unindexed(fixture).contains("description"))
    }

    /// Attributes of filter components that slapd had no index for.
    static func unindexed(_ fixture: DirectoryFixture) throws -> Set<String> {
        let log = try String(contentsOf: fixture.slapd.logFile, encoding: .utf8)
        var pending: [Substring: Substring] = [:]  // thread → attribute waiting for its next line
        var scanned: Set<String> = []
        for line in log.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3 else { continue }
            let thread = fields[1], message = fields[2]
            if let attribute = pending.removeValue(forKey: thread), !message.contains("key_read") {
                scanned.insert(String(attribute))
            }
            if message.hasPrefix("=> mdb_") && message.contains("_candidates (") && !message.hasPrefix("=> mdb_presence"),
               let open = message.lastIndex(of: "("), let close = message.lastIndex(of: ")") {
                pending[thread] = message[message.index(after: open)..<close]
            }
        }
        return scanned
    }
}
