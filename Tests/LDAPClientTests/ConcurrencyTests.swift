import Foundation
import Glibc
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// Pipelining on one connection, paging, and surviving a server crash.
@Suite struct ConcurrencyTests {
    private static func personAttributes(_ uid: String) -> [LDAPAttribute] {
        [
            LDAPAttribute("objectClass", ["inetOrgPerson"]),
            LDAPAttribute("uid", uid),
            LDAPAttribute("cn", uid),
            LDAPAttribute("sn", uid),
            LDAPAttribute("mail", "\(uid)@example.com"),
        ]
    }

    /// Adds `count` entries on one connection, keeping `window` requests in flight.
    private static func addPeople(_ connection: LDAPConnection, under parent: DistinguishedName, count: Int, window: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= window { try await group.next() }
                group.addTask {
                    let uid = "u\(index)"
                    try await connection.add(dn: "uid=\(uid),\(parent)".parsedDN, attributes: personAttributes(uid))
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func thousandPipelinedAddsOnOneConnection() async throws {
        let connection = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(connection, "pipelined")
        // All 1,000 requests are submitted at once: they share one socket and one thread.
        try await Self.addPeople(connection, under: parent, count: 1000, window: 1000)
        let listed = try await connection.search(base: parent, scope: .oneLevel, filter: .equal("objectClass", "inetOrgPerson"), attributes: ["1.1"])
        #expect(listed.entries.count == 1000)
    }

    @Test func pagingOverTenThousandEntriesStreamsPageByPage() async throws {
        let connection = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(connection, "paging")
        try await Self.addPeople(connection, under: parent, count: 10_000, window: 256)

        var pageSizes: [Int] = []
        for try await page in connection.pagedSearch(base: parent, scope: .oneLevel, filter: .equal("objectClass", "inetOrgPerson"), attributes: ["uid"], pageSize: 500).pages {
            pageSizes.append(page.count)
        }
        #expect(pageSizes.count == 20)
        #expect(pageSizes.allSatisfy { $0 == 500 })

        var uids = Set<String>()
        for try await entry in connection.pagedSearch(base: parent, scope: .oneLevel, filter: .equal("objectClass", "inetOrgPerson"), attributes: ["uid"], pageSize: 777) {
            if let uid = entry.string("uid") { uids.insert(uid) }
        }
        #expect(uids.count == 10_000)
        #expect(uids.contains("u0") && uids.contains("u9999"))

        // Without paging the same listing would be one 10,000-entry answer; the typed API works too.
        let typed = try await connection.search(base: parent, scope: .oneLevel, filter: .equal("uid", "u4242"))
        #expect(typed.entries.map(\.dn) == ["uid=u4242,\(parent)"])
    }

    @Test func twoHundredConcurrentSearchesOnOneConnection() async throws {
        let connection = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(connection, "concurrent")
        try await Self.addPeople(connection, under: parent, count: 200, window: 200)
        let results = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for index in 0..<200 {
                group.addTask {
                    let found = try await connection.search(base: parent, filter: .equal("mail", "u\(index)@example.com"), attributes: ["uid"])
                    return (index, found.entries.compactMap { $0.string("uid") })
                }
            }
            var results: [Int: [String]] = [:]
            for try await (index, uids) in group { results[index] = uids }
            return results
        }
        #expect(results.count == 200)
        // Each answer reached the task that asked: routing by message ID, not by arrival order.
        #expect(results.allSatisfy { index, uids in uids == ["u\(index)"] })
    }

    @Test func poolSpreadsOperationsOverItsConnections() async throws {
        let slapd = try TestSlapd.shared()
        let pool = LDAPConnectionPool(configuration: LDAPConfiguration(uri: slapd.uri, credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword)), size: 3)
        defer { pool.close() }
        let identities = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<30 { group.addTask { try await pool.whoAmI() } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(identities.count == 30)
        #expect(Set(identities) == ["dn:\(slapd.rootDN)"])
    }

    /// kill -9 of slapd with a write in flight: the write fails and is not replayed; after the
    /// restart the next read reconnects and re-binds.
    @Test func serverCrashFailsInFlightWriteAndNextReadReconnects() async throws {
        let slapd = try SlapdInstance.startTemporary(seed: SlapdInstance.baseEntriesLDIF(baseDN: TestSlapd.baseDN))
        defer { slapd.destroy() }
        let connection = LDAPConnection(configuration: LDAPConfiguration(uri: slapd.uri, credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword)))
        #expect(try await connection.whoAmI() == "dn:\(slapd.rootDN)")

        // Freeze slapd so the write is certainly in flight (sent, unanswered) when it dies.
        let pid = try #require(slapd.processIdentifier)
        Glibc.kill(pid, SIGSTOP)
        let write = Task {
            try await connection.add(dn: "uid=inflight,\(TestSlapd.baseDN)".parsedDN, attributes: Self.personAttributes("inflight"))
        }
        try await Task.sleep(for: .milliseconds(200))
        slapd.kill()
        let error = await #expect(throws: LDAPError.self) { try await write.value }
        #expect(error?.isConnectionError == true)

        try slapd.start()
        // The read reconnects and re-binds as the root DN by itself.
        #expect(try await connection.whoAmI() == "dn:\(slapd.rootDN)")
        // The lost write was not retried behind the caller's back.
        #expect(try await connection.entry("uid=inflight,\(TestSlapd.baseDN)".parsedDN) == nil)
    }
}

@Suite struct PagingEdgeTests {
    /// slapd's NOID cookie after an exactly full last page must end the listing, not fail it.
    @Test(arguments: [10, 7, 30, 31]) func listingWhoseSizeIsAMultipleOfThePageSize(pageSize: Int) async throws {
        let connection = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(connection, "pages")
        for index in 0..<30 {
            try await connection.add(dn: "cn=c\(index),\(parent)".parsedDN, attributes: [LDAPAttribute("objectClass", ["device"]), LDAPAttribute("cn", "c\(index)")])
        }
        // Twice on one connection: the second listing must not inherit slapd's stale paging state.
        for _ in 0..<2 {
            var count = 0
            for try await _ in connection.pagedSearch(base: parent, scope: .oneLevel, attributes: ["cn"], pageSize: pageSize) { count += 1 }
            #expect(count == 30)
        }
    }
}

/// Tasks that prefer the connection's executor run on its thread: no hop per operation.
@Suite struct ExecutorTests {
    @Test func operationsUnderTheConnectionsExecutor() async throws {
        let connection = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(connection, "executor")
        let found = try await withTaskExecutorPreference(connection.executor) {
            for index in 0..<50 {
                try await connection.add(dn: "cn=e\(index),\(parent)".parsedDN, attributes: [LDAPAttribute("objectClass", ["device"]), LDAPAttribute("cn", "e\(index)")])
            }
            // Concurrent children inherit the preference and still pipeline on one socket.
            return try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<50 {
                    group.addTask { try await connection.search(base: parent, filter: .equal("cn", "e\(index)")).entries.count }
                }
                return try await group.reduce(0, +)
            }
        }
        #expect(found == 50)
        // The search starts only after cancel(): without the gate, a loaded machine could run
        // the task and answer the search before cancel() was called (seen once in CI).
        let gate = AsyncStream.makeStream(of: Void.self)
        let cancelled = Task(executorPreference: connection.executor) {
            for await _ in gate.stream {}
            return try await connection.search(base: TestSlapd.baseDN.parsedDN)
        }
        cancelled.cancel()
        gate.continuation.finish()
        await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
        #expect(try await connection.whoAmI().hasPrefix("dn:"))
    }

    /// The connection thread blocks SIGPIPE (a write to a dropped connection must fail with
    /// EPIPE, not kill the process); the test's own thread keeps its mask.
    @Test func theConnectionThreadBlocksSIGPIPE() async throws {
        let connection = try TestSlapd.rootConnection()
        defer { connection.close() }
        _ = try await connection.whoAmI()
        func pipeBlocked() -> Bool {
            var current = sigset_t()
            pthread_sigmask(SIG_BLOCK, nil, &current)
            return sigismember(&current, SIGPIPE) == 1
        }
        let onConnectionThread = await withTaskExecutorPreference(connection.executor) { () async -> Bool in pipeBlocked() }
        #expect(onConnectionThread)
        #expect(!pipeBlocked(), "the caller's thread mask is untouched")
    }
}

@Suite struct PoolPagingTests {
    /// Through the protocol, a pool still pins each listing to one connection (cookies are per connection).
    @Test func pagedSearchThroughAnyLDAPOperationsOnAPool() async throws {
        let slapd = try TestSlapd.shared()
        let root = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(root, "poolpages")
        for index in 0..<45 {
            try await root.add(dn: "cn=p\(index),\(parent)".parsedDN, attributes: [LDAPAttribute("objectClass", ["device"]), LDAPAttribute("cn", "p\(index)")])
        }
        let pool: any LDAPOperations = LDAPConnectionPool(configuration: LDAPConfiguration(uri: slapd.uri, credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword)), size: 3)
        var names = Set<String>()
        for try await entry in pool.pagedSearch(base: parent, scope: .oneLevel, filter: .equal("objectClass", "device"), attributes: ["cn"], pageSize: 4, controls: []) {
            names.insert(entry.string("cn") ?? "")
        }
        #expect(names.count == 45)
    }
}
