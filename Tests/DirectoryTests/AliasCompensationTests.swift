import Foundation
import LDAPClient
import Logging
import TestSupport
import Testing

@testable import Directory

/// An alias add reserves a `gwAliasCount` slot before it adds the entry; when the add fails the
/// slot is given back (``Compensation``), retried, and reported when it can not be.
@Suite struct AliasCompensationTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "connection lost" }
    }

    @Test func retriesUntilTheUndoSucceeds() async {
        let calls = LockedValue(0)
        let compensation = Compensation(attempts: 3, backoff: .milliseconds(1))
        let result = await compensation.run {
            let call = calls.withLock { $0 += 1; return $0 }
            if call < 3 { throw Failure() }
        }
        #expect(result == nil)
        #expect(calls.withLock { $0 } == 3)
    }

    @Test func givesUpAfterItsAttemptsWithTheLastError() async {
        let calls = LockedValue(0)
        let started = ContinuousClock.now
        let result = await Compensation(attempts: 3, backoff: .milliseconds(20)).run {
            calls.withLock { $0 += 1 }
            throw Failure()
        }
        #expect(calls.withLock { $0 } == 3)
        #expect(result?.attempts == 3)
        #expect(result?.error is Failure)
        // 20 ms, then 40 ms between the three tries.
        #expect(ContinuousClock.now - started >= .milliseconds(60))
    }

    @Test func anUnreleasedSlotIsLoggedAsAnErrorNamingTheAccount() async throws {
        let records = LogRecords()
        let fixture = try DirectoryFixture.shared()
        let connection = fixture.gwdirConnection()
        defer { connection.close() }
        var service = AliasService(DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN)),
                                   logger: Logger(label: DirectoryLogging.adminLabel) { _ in CapturingHandler(records: records) })
        service.compensation = Compensation(attempts: 2, backoff: .milliseconds(1))
        let error = await service.releaseSlot(of: "alice@example.test") { throw Failure() }
        #expect(error is Failure)
        let logged = records.all
        #expect(logged.count == 1)
        #expect(logged.first?.level == .error)
        #expect(logged.first?.message.contains("gwdir check --repair") == true)
        #expect(logged.first?.metadata["account"] == "alice@example.test")
        #expect(logged.first?.metadata["attempts"] == "2")
        #expect(logged.first?.metadata["error"] == "connection lost")
        let note = AliasService.unreleasedNote(Failure(), owner: "alice@example.test")
        #expect(note.contains("gwAliasCount of alice@example.test is one too high") && note.contains("gwdir check --repair"))

        // A slot given back on the second try logs nothing.
        let calls = LockedValue(0)
        let recovered = await service.releaseSlot(of: "alice@example.test") {
            if calls.withLock({ $0 += 1; return $0 }) == 1 { throw Failure() }
        }
        #expect(recovered == nil)
        #expect(records.all.count == 1)
    }

    /// Against slapd: an entry at the alias's DN that the address check does not see (an
    /// invitation: slapo-unique and the service both skip those) lets the add get past its
    /// reservation and fail in slapd; the counter is where it was, and the check is clean.
    @Test func aFailedAddGivesItsSlotBack() async throws {
        let world = try await DirectoryCheckTests.World.make("alc")
        defer { world.connection.close() }
        let alice = try world.dn("alice", world.a, unit: "sales/east")
        let taken = world.mail("taken", world.a)
        let squat = try alice.child(type: "mail", value: taken)
        try await world.asRoot { root in
            _ = try await root.add(dn: squat, attributes: [
                LDAPAttribute("objectClass", ["gwInvitation"]), LDAPAttribute("gwInvitationId", "squat"), LDAPAttribute("mail", taken),
            ])
        }
        let records = LogRecords()
        let service = AliasService(world.context, logger: Logger(label: DirectoryLogging.adminLabel) { _ in CapturingHandler(records: records) })
        let error = await #expect(throws: DirectoryError.self) { try await service.add(owner: world.mail("alice", world.a), alias: taken) }
        #expect(error?.code == .addressInUse)
        #expect(error?.underlying?.code == .entryAlreadyExists)
        #expect(error?.message == "address \(taken) is already in use", "the slot came back: no note")
        #expect(records.all.isEmpty)
        #expect(try await world.asRoot { try await $0.entry(alice, attributes: ["gwAliasCount"])?.strings("gwAliasCount") } == ["2"])

        try await world.asRoot { _ = try await $0.delete(dn: squat) }
        #expect(try await DirectoryCheck(world.context).run(workspace: world.a) == [])
        // The slot is usable: the add goes through now.
        _ = try await service.add(owner: world.mail("alice", world.a), alias: taken)
        #expect(try await world.asRoot { try await $0.entry(alice, attributes: ["gwAliasCount"])?.strings("gwAliasCount") } == ["3"])
    }
}

/// A decode failure that fails closed is still logged with its cause.
@Suite struct LoggedFailureTests {
    @Test func anUnparsableAllowedNetworkRefusesAndSaysWhy() throws {
        let records = LogRecords()
        let logger = Logger(label: DirectoryLogging.authLabel) { _ in CapturingHandler(records: records) }
        let ip = try #require(IPAddress("10.1.2.3"))
        #expect(LoginRules.networkReason(ip: ip, workspace: ["10.0.0.0/8"], account: ["10.1.0.0/16", "office"], logger: logger) == .ipNotAllowed)
        #expect(records.all.map(\.level) == [.warning])
        #expect(records.all.first?.metadata["list"] == "account")
        #expect(records.all.first?.metadata["error"] == "not an IP address or CIDR block: office")
        #expect(LoginRules.networkReason(ip: ip, workspace: ["10.0.0.0/8"], account: ["10.1.0.0/16"], logger: logger) == nil)
        #expect(records.all.count == 1)
    }
}

/// What a ``CapturingHandler`` was given.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = LockedValue<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ record: Record) { records.withLock { $0.append(record) } }
}

struct CapturingHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(.init(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
