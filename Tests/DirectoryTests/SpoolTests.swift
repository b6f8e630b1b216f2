import Foundation
import LDAPClient
import TestSupport
import Testing

@testable import Directory

/// ``LoginSpool`` on disk, without slapd.
@Suite struct SpoolTests {
    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-spool-\(UUID().uuidString)")
    }

    static func event(_ index: Int, type: LoginType = .pop3) -> LoginEvent {
        LoginEvent(time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)), accountDN: "uid=u\(index % 7),o=x".parsedDN,
                   loginName: "u\(index % 7)@x.test", type: type, client: "", ip: IPAddress("10.0.0.\(index % 200 + 1)"),
                   country: nil, outcome: index.isMultiple(of: 3) ? .failure(.wrongPassword) : .success)
    }

    @Test func appendsReadBackInOrderAcrossAReopen() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var spool: LoginSpool? = try LoginSpool(directory: directory)
        for index in 1...20 { #expect(try await spool!.append(Self.event(index)) == UInt64(index)) }
        let read = try spool!.read(after: 5, limit: 10)
        #expect(read.map(\.sequence) == Array(6...15))
        #expect(read.map(\.event) == (6...15).map { Self.event($0) })
        let id = spool!.id
        spool!.close()
        spool = nil
        // Reopened: the same id, everything still there, new appends continue the numbering.
        let reopened = try LoginSpool(directory: directory)
        defer { reopened.close() }
        #expect(reopened.id == id && reopened.recoveredThrough == 20)
        #expect(try await reopened.append(Self.event(21)) == 21)
        #expect(try reopened.read(after: 0, limit: 100).map(\.sequence) == Array(1...21))
    }

    @Test func concurrentAppendsShareFsyncs() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try LoginSpool(directory: directory)
        defer { spool.close() }
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<500 { group.addTask { try await spool.append(Self.event(index)) } }
            return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
        }
        #expect(sequences == Set(1...500))
        #expect(spool.commitCount < 500, "group commit: \(spool.commitCount) fsyncs for 500 appends")
        #expect(try spool.read(after: 0, limit: 1000).map(\.sequence) == Array(1...500))
    }

    @Test func appendsBeyondTheMemoryBoundWaitTheirTurn() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Room for about two records: the rest park and go out in later groups, none lost.
        let spool = try LoginSpool(directory: directory, maxPendingBytes: 500)
        defer { spool.close() }
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<200 { group.addTask { try await spool.append(Self.event(index)) } }
            return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
        }
        #expect(sequences == Set(1...200))
        #expect(try spool.read(after: 0, limit: 1000).map(\.sequence) == Array(1...200))
    }

    @Test func segmentsRotateAndDrainedOnesAreDeleted() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try LoginSpool(directory: directory, segmentBytes: 800)
        defer { spool.close() }
        for index in 1...100 { try await spool.append(Self.event(index)) }
        let segments = try LoginSpool.segments(in: directory)
        #expect(segments.count > 5)
        #expect(try spool.read(after: 0, limit: 1000).map(\.sequence) == Array(1...100))
        try spool.advanceCheckpoint(to: 60)
        let left = try LoginSpool.segments(in: directory)
        #expect(left.count < segments.count && left.first!.first <= 61)
        #expect(try spool.read(after: 60, limit: 1000).map(\.sequence) == Array(61...100))
    }

    /// The drainer advances after every batch; the file follows at most every interval, and
    /// `flushCheckpoint()` (at shutdown) writes what it lags behind.
    @Test func theCheckpointFileIsWrittenAtIntervalsAndFlushedAtShutdown() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func onDisk() throws -> UInt64? {
            UInt64(try String(contentsOf: directory.appendingPathComponent("checkpoint"), encoding: .utf8))
        }
        do {
            let spool = try LoginSpool(directory: directory, checkpointInterval: .seconds(3600))
            for index in 1...10 { try await spool.append(Self.event(index)) }
            try spool.advanceCheckpoint(to: 4, durable: false)
            #expect(try onDisk() == 4, "the first advance writes the file")
            try spool.advanceCheckpoint(to: 7, durable: false)
            #expect(spool.checkpoint == 7)
            #expect(try onDisk() == 4, "within the interval only memory moves")
            try spool.flushCheckpoint()
            #expect(try onDisk() == 7)
            spool.close()
        }
        let reopened = try LoginSpool(directory: directory)
        defer { reopened.close() }
        #expect(reopened.checkpoint == 7 && reopened.recoveredThrough == 10)
    }

    @Test func aTruncatedOrCorruptTailIsDroppedWithAWarning() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let spool = try LoginSpool(directory: directory)
            for index in 1...10 { try await spool.append(Self.event(index)) }
            spool.close()
        }
        let segment = try #require(try LoginSpool.segments(in: directory).last).url
        let whole = try Data(contentsOf: segment)
        // A crash mid-append: half of an 11th record.
        var record: [UInt8] = []
        SpoolSegment.encode(sequence: 11, payload: try JSONEncoder().encode(SpooledEvent(Self.event(11))), into: &record)
        try (whole + Data(record.prefix(record.count / 2))).write(to: segment)
        var spool = try LoginSpool(directory: directory)
        #expect(spool.recoveredThrough == 10)
        #expect(try Data(contentsOf: segment) == whole, "the partial record is cut off")
        #expect(try await spool.append(Self.event(11)) == 11)
        spool.close()
        // A flipped bit in the last record fails its CRC: that record is dropped, the rest kept.
        let newest = try #require(try LoginSpool.segments(in: directory).last).url
        var bytes = [UInt8](try Data(contentsOf: newest))
        bytes[bytes.count - 3] ^= 0x40
        try Data(bytes).write(to: newest)
        spool = try LoginSpool(directory: directory)
        defer { spool.close() }
        #expect(try spool.read(after: 0, limit: 100).map(\.sequence) == Array(1...10))
        #expect(try await spool.append(Self.event(12)) == 11)
    }

    /// The drainer's reads resume where the last one ended, across segment rotations and
    /// appends in between; a read from anywhere else (a retried batch) starts over correctly.
    @Test func readsResumeWhereTheLastEndedAndRestartAnywhere() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try LoginSpool(directory: directory, segmentBytes: 800)
        defer { spool.close() }
        for index in 1...50 { try await spool.append(Self.event(index)) }
        #expect(try LoginSpool.segments(in: directory).count > 3)
        #expect(try spool.read(after: 0, limit: 7).map(\.sequence) == Array(1...7))
        #expect(try spool.read(after: 7, limit: 7).map(\.sequence) == Array(8...14))
        #expect(try spool.read(after: 3, limit: 5).map(\.sequence) == Array(4...8))
        #expect(try spool.read(after: 8, limit: 100).map(\.sequence) == Array(9...50))
        for index in 51...60 { try await spool.append(Self.event(index)) }
        let tail = try spool.read(after: 50, limit: 100)
        #expect(tail.map(\.sequence) == Array(51...60))
        #expect(tail.map(\.event) == (51...60).map { Self.event($0) })
        #expect(try spool.read(after: 60, limit: 100).isEmpty)
    }

    /// The binary record carries every field and every absence; a record of the earlier JSON
    /// form still reads; anything else is an error, not a wrong event.
    @Test func spooledEventsRoundTripInBothForms() throws {
        var unresolved = Self.event(4)
        unresolved.accountDN = nil
        unresolved.accountUnresolved = true
        unresolved.ip = nil
        var full = Self.event(3)
        full.country = "KR"
        full.loginName = "영업부.담당@x.test"
        for event in [Self.event(1), Self.event(3), full, unresolved] {
            let record = SpooledEvent(event)
            #expect(try SpooledEvent(payload: record.payload) == record)
            #expect(try SpooledEvent(payload: record.payload).event == event)
            #expect(try SpooledEvent(payload: try JSONEncoder().encode(record)).event == event)
        }
        let payload = SpooledEvent(full).payload
        #expect(throws: DirectoryError.self) { try SpooledEvent(payload: payload.dropLast(3)) }
        #expect(throws: DirectoryError.self) { try SpooledEvent(payload: payload + Data([0])) }
        #expect(throws: DirectoryError.self) { try SpooledEvent(payload: Data("not json".utf8)) }
    }

    /// Records as earlier versions wrote them, byte for byte: the account DN is stored as its
    /// text in both forms, and a text that is no DN is an error, not an event without an account.
    @Test func recordsOfEarlierVersionsStillRead() throws {
        let version1 = "010000408074d2da410d0a0000007569643d75312c6f3d7809000000753140782e7465737404000000706f7033000000000800000031302e302e302e32"
        let bytes = stride(from: 0, to: version1.count, by: 2).map { offset in
            let start = version1.index(version1.startIndex, offsetBy: offset)
            return UInt8(version1[start..<version1.index(start, offsetBy: 2)], radix: 16)!
        }
        #expect(try SpooledEvent(payload: Data(bytes)).event == Self.event(1))
        #expect(SpooledEvent(Self.event(1)).payload == Data(bytes))
        let json = #"{"time":1800000001,"account":"uid=u1,o=x","login":"u1@x.test","type":"pop3","client":"","ip":"10.0.0.2","success":true}"#
        #expect(try SpooledEvent(payload: Data(json.utf8)).event == Self.event(1))

        var record = SpooledEvent(Self.event(1))
        record.account = "not a dn"
        let error = try #require(throws: DirectoryError.self) { try SpooledEvent(payload: record.payload).event }
        #expect(error.message == #"an unreadable account DN "not a dn" in a spooled event"#)
    }

    @Test func theUnresolvedMarkSurvivesTheSpool() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try LoginSpool(directory: directory)
        defer { spool.close() }
        var unresolved = Self.event(1)
        unresolved.accountDN = nil
        unresolved.accountUnresolved = true
        try await spool.append(unresolved)
        try await spool.append(Self.event(2))
        let read = try spool.read(after: 0, limit: 10).map(\.event)
        #expect(read == [unresolved, Self.event(2)])
    }

    @Test func oneProcessAtATime() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try LoginSpool(directory: directory)
        defer { spool.close() }
        #expect(throws: DirectoryError.self) { try LoginSpool(directory: directory) }
    }
}

/// ``SpooledLoginRecorder`` against a slapd of its own, stopped and started by the tests.
@Suite(.serialized) struct SpooledRecorderTests {
    static let server: Result<DirectoryFixture, any Error> = Result { try DirectoryFixture.start() }

    static func counts(_ log: AuditLog, _ world: AuditWorld, _ uids: [String]) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for uid in uids {
            counts[uid] = try await log.events(account: DistinguishedName(world.accountDN(uid))).reduce(0) { $0 + $1.count }
        }
        return counts
    }

    /// 2,000 events of 4 accounts, 70% folding repeats, the rest web logins.
    static func events(_ world: AuditWorld, count: Int = 2000) -> [LoginEvent] {
        (0..<count).map { index in
            let uid = ["a1", "a2", "a3", "a4"][index % 4]
            return index % 10 < 7
                ? world.event(uid, type: .pop3, ip: "10.9.\(index % 4).1", at: TimeInterval(index) / 100)
                : world.event(uid, type: .pcBrowser, ip: "10.9.9.\(index % 4)", at: TimeInterval(index) / 100)
        }
    }

    @Test func eventsRecordedWhileSlapdIsDownAreWrittenWhenItReturns() async throws {
        let fixture = try Self.server.get()
        let uids = ["a1", "a2", "a3", "a4"]
        let world = try await AuditWorld.make(accounts: uids, fixture: fixture)
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log)
        defer { recorder.spool.close() }
        let drainer = recorder.drainer(clock: ContinuousClock(), backoff: .milliseconds(50) ... .milliseconds(500))
        let draining = Task { try await drainer.run() }

        fixture.slapd.stop()
        let events = Self.events(world)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: events.count, by: 100) {
                group.addTask { for event in events[chunk..<min(chunk + 100, events.count)] { try await recorder.record(event) } }
            }
            try await group.waitForAll()
        }
        #expect(recorder.spool.durableSequence == 2000)
        try await Task.sleep(for: .seconds(3))
        try fixture.slapd.start()
        // All written after it returns.
        // Generous: the drainer writes one account's events one after another, and the full parallel run
        // on 2 cores once needed more than a minute for the first batch of 1,024.
        let deadline = ContinuousClock.now + .seconds(240)
        while recorder.spool.checkpoint < 2000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(recorder.spool.checkpoint == 2000)
        draining.cancel()
        try await draining.value
        #expect(try await Self.counts(log, world, uids) == ["a1": 500, "a2": 500, "a3": 500, "a4": 500])
    }

    /// Reports of an outage carry only the login tried (MailLoginPolicy can not look it up):
    /// the drainer finds the account once slapd is back, so they count in the account's history
    /// and a success moves its last login; a name without an account stays a name.
    @Test func eventsOfAnOutageAreResolvedToTheirAccountWhenSlapdReturns() async throws {
        let fixture = try Self.server.get()
        let uids = ["r1", "r2"]
        let world = try await AuditWorld.make(accounts: uids, fixture: fixture)
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log, resolver: MailAccountResolver(context: log.context))
        defer { recorder.spool.close() }
        let drainer = recorder.drainer(clock: ContinuousClock(), backoff: .milliseconds(50) ... .milliseconds(500))
        let draining = Task { try await drainer.run() }

        fixture.slapd.stop()
        let ghost = "nobody-\(world.workspace)@\(world.workspace).test"
        let logins = [world.mail("r1"), world.mail("r2"), ghost]
        for index in 0..<60 {
            let event = LoginEvent(
                time: world.clock.now.addingTimeInterval(TimeInterval(index)), accountDN: nil, loginName: logins[index % 3],
                type: .imap, client: "imap", ip: IPAddress("10.8.0.\(index % 2 + 1)"), country: nil,
                outcome: index % 4 == 0 ? .failure(.mailServerError) : .success, accountUnresolved: true
            )
            try await recorder.record(event)
        }
        try fixture.slapd.start()
        let deadline = ContinuousClock.now + .seconds(240)
        while recorder.spool.checkpoint < 60, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(recorder.spool.checkpoint == 60)
        draining.cancel()
        try await draining.value
        try await log.flushLastLogins()
        #expect(try await Self.counts(log, world, uids) == ["r1": 20, "r2": 20])
        let ghostEntries = try await log.events(loginName: ghost)
        #expect(ghostEntries.reduce(0) { $0 + $1.count } == 20)
        #expect(ghostEntries.allSatisfy { $0.accountDN == nil })
        let r1 = try await ldap.entry(try DistinguishedName(world.accountDN("r1")), attributes: ["gwLastLoginType", "gwLastLoginIP"])
        #expect(r1?.string("gwLastLoginType") == "imap")
        #expect(r1?.string("gwLastLoginIP") != nil)
    }

    /// A success spooled without its account (the mail policy's fast path) clears an admin-reset
    /// mark older than the login when it is drained, as a login through the authenticator does;
    /// a mark set after the login stays.
    @Test func aDrainedSuccessClearsAnOlderAdminResetMarkOnly() async throws {
        let fixture = try Self.server.get()
        let world = try await AuditWorld.make(accounts: ["m1", "m2"], fixture: fixture)
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let root = world.fixture.rootConnection()
        defer { root.close() }
        let loginTime = world.clock.now
        for (uid, offset) in [("m1", -3600.0), ("m2", 3600.0)] {
            try await root.modify(dn: try DistinguishedName(world.accountDN(uid)), [
                .replace("gwPasswordChangedByAdmin", GeneralizedTime.format(loginTime.addingTimeInterval(offset))),
            ])
        }
        let log = try world.log(ldap)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log, resolver: MailAccountResolver(context: log.context))
        defer { recorder.spool.close() }
        #expect(recorder.resolvesAccounts)
        for uid in ["m1", "m2"] {
            try await recorder.record(LoginEvent(time: loginTime, accountDN: nil, loginName: world.mail(uid), type: .imap, client: "imap",
                                                 ip: IPAddress("10.7.0.1"), country: nil, outcome: .success, accountUnresolved: true))
        }
        #expect(try await recorder.drainAvailable() == 2)
        #expect(try await Self.counts(log, world, ["m1", "m2"]) == ["m1": 1, "m2": 1])
        let m1 = try await ldap.entry(try DistinguishedName(world.accountDN("m1")), attributes: ["gwPasswordChangedByAdmin"])
        let m2 = try await ldap.entry(try DistinguishedName(world.accountDN("m2")), attributes: ["gwPasswordChangedByAdmin"])
        #expect(m1?.string("gwPasswordChangedByAdmin") == nil)
        #expect(m2?.string("gwPasswordChangedByAdmin") != nil)
    }

    /// The resolver's memory ages in elapsed time, not on the directory's clock: moving event
    /// time by days (as tests and the benchmark do, or a wall-clock step) neither empties it nor
    /// stretches it. Shown by changing the account's address behind the cache's back.
    @Test func theResolverCacheAgesInElapsedTimeNotEventTime() async throws {
        let fixture = try Self.server.get()
        let world = try await AuditWorld.make(accounts: ["k1"], fixture: fixture)
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let root = world.fixture.rootConnection()
        defer { root.close() }
        let context = try world.log(ldap).context
        let remembering = MailAccountResolver(context: context)
        let forgetting = MailAccountResolver(context: context, cache: ResolvedLoginCache(ttl: .zero, negativeTTL: .zero))
        let login = world.mail("k1")
        let dn = try DistinguishedName(world.accountDN("k1"))
        #expect(try await remembering.account(of: login)?.dn == dn)
        #expect(try await forgetting.account(of: login)?.dn == dn)

        try await root.modify(dn: dn, [.replace("mail", "renamed-\(login)")])
        world.clock.advance(by: 3 * 86_400)
        #expect(try await remembering.account(of: login)?.dn == dn, "three days of event time are no time for the cache")
        #expect(try await forgetting.account(of: login) == nil, "a lookup after the TTL sees the directory as it is")
    }

    @Test func aCrashBeforeTheCheckpointReplaysEveryEventExactlyOnce() async throws {
        let fixture = try Self.server.get()
        let uids = ["a1", "a2", "a3", "a4"]
        let world = try await AuditWorld.make(accounts: uids, fixture: fixture)
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let events = Self.events(world)
        do {
            let first = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: try world.log(ldap))
            for event in events { try await first.record(event) }
            // Written to slapd but never checkpointed: the crash between the two.
            let batch = try first.spool.read(after: 0, limit: 1300)
            for item in batch {
                try await first.log.write(item.event, mark: AuditSpoolMark(spool: first.spool.id, sequence: item.sequence))
            }
            first.spool.close()
        }
        // A new process: a fresh log (empty cache) over the same spool replays from the start.
        let log = try world.log(ldap)
        let second = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log)
        defer { second.spool.close() }
        #expect(second.spool.recoveredThrough == 2000 && second.spool.checkpoint == 0)
        #expect(try await second.drainAvailable(batchSize: 500) == 2000)
        #expect(try await Self.counts(log, world, uids) == ["a1": 500, "a2": 500, "a3": 500, "a4": 500])
        // Nothing is left, and draining again writes nothing.
        #expect(try await second.drainAvailable() == 0)
    }

    static let crashWriter: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent(), URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                          root.appendingPathComponent(".build/debug")]
        return candidates.map { $0.appendingPathComponent("spool-crash-writer") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    @Test func everyEventAcknowledgedBeforeAKill9IsWrittenExactlyOnce() async throws {
        let binary = try #require(Self.crashWriter, "build spool-crash-writer first (swift build)")
        let fixture = try Self.server.get()
        let uids = ["a1", "a2", "a3", "a4"]
        let world = try await AuditWorld.make(accounts: uids, fixture: fixture)
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let child = Process()
        child.executableURL = binary
        child.arguments = [directory.path, world.workspaceDN, String(world.clock.now.timeIntervalSince1970)]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        // Each printed number is an acknowledged (fsync'd) event; kill -9 in the middle of the burst.
        var acknowledged = Set<UInt64>()
        var pending = Data()
        func collect(_ chunk: Data) {
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                if let sequence = UInt64(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)) { acknowledged.insert(sequence) }
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        while acknowledged.count < 1500 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            collect(chunk)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        collect(output.fileHandleForReading.readDataToEndOfFile())
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(acknowledged.count >= 1500)

        let ldap = fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log)
        defer { recorder.spool.close() }
        let spooled = try recorder.spool.read(after: 0, limit: 1_000_000)
        #expect(spooled.map(\.sequence) == Array(1...UInt64(spooled.count)), "no gaps")
        #expect(acknowledged.isSubset(of: Set(spooled.map(\.sequence))), "every acknowledged event survived")
        #expect(try await recorder.drainAvailable() == spooled.count)
        var expected: [String: Int] = [:]
        for item in spooled { expected[item.event.accountDN!.rdn!.value!, default: 0] += 1 }
        #expect(try await Self.counts(log, world, uids) == expected)
    }
}

/// A backlog's repeats, drained as one counted write per run, leave exactly the entries that
/// writing every event on its own leaves; and only one audit write per run reaches slapd.
@Suite struct SpoolRunTests {
    /// Counts adds and modifies under one base on the way to slapd.
    final class AuditWrites: LDAPOperations {
        let connection: LDAPConnection
        let base: DistinguishedName
        private let writes = LockedValue(0)
        var count: Int { writes.withLock { $0 } }
        init(_ connection: LDAPConnection, base: DistinguishedName) {
            self.connection = connection
            self.base = base
        }
        private func note(_ dn: DistinguishedName) { if dn.isDescendant(of: base) { writes.withLock { $0 += 1 } } }
        func search(base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String], sizeLimit: Int,
                    timeLimit: Duration?, controls: [LDAPRequestControl]) async throws -> LDAPSearchResult {
            try await connection.search(base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls)
        }
        func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool {
            try await connection.compare(dn: dn, attribute: attribute, value: value, controls: controls)
        }
        func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult {
            note(dn)
            return try await connection.add(dn: dn, attributes: attributes, controls: controls)
        }
        func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult {
            note(dn)
            return try await connection.modify(dn: dn, modifications, controls: controls)
        }
        func delete(dn: DistinguishedName, controls: [LDAPRequestControl]) async throws -> LDAPResult {
            try await connection.delete(dn: dn, controls: controls)
        }
        func rename(dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool, newSuperior: DistinguishedName?,
                    controls: [LDAPRequestControl]) async throws -> LDAPResult {
            try await connection.rename(dn: dn, newRDN: newRDN, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior, controls: controls)
        }
        func whoAmI() async throws -> String { try await connection.whoAmI() }
        func passwordModify(userDN: DistinguishedName?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String? {
            try await connection.passwordModify(userDN: userDN, oldPassword: oldPassword, newPassword: newPassword, controls: controls)
        }
        func pagedSearch(base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String], pageSize: Int,
                         controls: [LDAPRequestControl]) -> LDAPPagedSearch {
            connection.pagedSearch(base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize, controls: controls)
        }
    }

    /// One account's logins: runs of POP3 polls, IMAP failures, another address, web logins.
    static func pattern(_ world: AuditWorld, _ uid: String) -> [LoginEvent] {
        var events: [LoginEvent] = []
        var clock: TimeInterval = 0
        func add(_ count: Int, _ make: (TimeInterval) -> LoginEvent) {
            for _ in 0..<count {
                events.append(make(clock))
                clock += 1.5
            }
        }
        add(30) { world.event(uid, type: .pop3, ip: "10.7.1.1", at: $0) }
        add(5) { world.event(uid, type: .imap, ip: "10.7.1.1", outcome: .failure(.wrongPassword), at: $0) }
        add(20) { world.event(uid, type: .pop3, ip: "10.7.1.1", at: $0) }
        add(2) { world.event(uid, type: .pcBrowser, ip: "10.7.1.1", at: $0) }
        add(10) { world.event(uid, type: .pop3, ip: "10.7.1.2", at: $0) }
        return events
    }

    static func summary(_ entries: [AuditEntry]) -> [String] {
        entries.map { "\($0.typeCode) \($0.ip ?? "-") \($0.reasonCode ?? "-") \($0.count) \($0.firstTime.map { Int($0.timeIntervalSince1970) } ?? 0)-\($0.lastTime.map { Int($0.timeIntervalSince1970) } ?? 0)" }.sorted()
    }

    @Test func aBacklogsRepeatsAreCountedByOneWritePerRun() async throws {
        let world = try await AuditWorld.make(accounts: ["spooled", "direct"])
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let layout = try DirectoryLayout(base: world.fixture.baseDN)
        let counting = AuditWrites(ldap, base: layout.auditEvents)
        let clock = world.clock
        let log = AuditLog(context: DirectoryContext(ldap: counting, layout: layout, now: { clock.now }), purgeInterval: nil)
        // One event at a time, as the in-process recorder writes them.
        for event in Self.pattern(world, "direct") { try await log.write(event) }
        let direct = counting.count
        // The same logins of another account, spooled and drained as one backlog.
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log)
        defer { recorder.spool.close() }
        for event in Self.pattern(world, "spooled") { try await recorder.record(event) }
        #expect(try await recorder.drainAvailable() == 67)
        let drained = counting.count - direct
        #expect(direct == 67)
        // pop3 x30, imap x5, pop3 x20, two web logins, pop3 from another address x10.
        #expect(drained == 6, "\(drained) audit writes for the backlog")
        let spooled = try await log.events(account: DistinguishedName(world.accountDN("spooled")))
        let written = try await log.events(account: DistinguishedName(world.accountDN("direct")))
        #expect(Self.summary(spooled) == Self.summary(written))
        #expect(spooled.reduce(0) { $0 + $1.count } == 67)
        // The replay mark of each entry is its run's last event.
        let root = world.fixture.rootConnection()
        defer { root.close() }
        let marks = try await root.search(base: layout.auditEvents, scope: .oneLevel,
                                          filter: .equal("gwAccountRef", world.accountDN("spooled")), attributes: ["gwSpoolSeq"])
        #expect(Set(marks.entries.compactMap { $0.string("gwSpoolSeq") }) == ["30", "35", "55", "56", "57", "67"])
        // The last login is the run's last success, once flushed.
        try await log.flushLastLogins()
        #expect(try await world.lastLogin("spooled")["gwLastLoginIP"] == "10.7.1.2")
    }
}

import Logging
import ServiceLifecycle

/// The two services as `gwdir serve` runs them: a graceful shutdown (SIGTERM) drains the
/// spool and writes the deferred last logins before `run` returns.
@Suite struct AuditServicesTests {
    @Test func gracefulShutdownDrainsTheSpoolAndFlushesLastLogins() async throws {
        let world = try await AuditWorld.make()
        let directory = SpoolTests.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = try world.log(ldap)
        let recorder = SpooledLoginRecorder(spool: try LoginSpool(directory: directory), log: log)
        defer { recorder.spool.close() }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            // Shut down in reverse: the drainer first, so the sweep flushes what it drained.
            services: [
                .init(service: AuditSweepService(log: log, clock: world.clock.sleeper)),
                .init(service: recorder.drainer(clock: world.clock.sleeper)),
            ],
            logger: Logger(label: "test")
        ))
        let running = Task { try await group.run() }
        for offset in 0..<10 { try await recorder.record(world.event(type: .imap, ip: "81.2.69.\(offset + 1)", at: TimeInterval(offset))) }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(recorder.spool.checkpoint == 10)
        let entries = try await log.events(account: DistinguishedName(world.accountDN("alice")))
        #expect(entries.reduce(0) { $0 + $1.count } == 10)
        #expect(try await world.lastLogin("alice")["gwLastLoginIP"] == "81.2.69.10")
    }
}
