// The audit benchmark: login events recorded through gwdir's AuditLog, against a naive loop
// (one awaited add per event, no folding) and a raw libldap loop making the same writes as
// AuditLog, pipelined the same way.
import CBenchBaseline
import Directory
import Foundation
import LDAPClient
import LocalSlapd
import Synchronization

/// 70% IMAP-style repeats (POP3 and SMTP) from a few (account, IP) pairs, 30% web logins of
/// many accounts, each a new entry; 1 ms apart, so a run spans `count` ms.
struct AuditWorkload: Sendable {
    struct Event: Sendable {
        var account: Int
        /// The (account, IP) pair of a mail login, nil for a web login.
        var pair: Int?
        var type: LoginType
        var ip: String
        var outcome: LoginOutcome
        var offset: TimeInterval
    }

    static let pairs = 40
    static let firstWebAccount = 100
    var events: [Event] = []

    init(count: Int, users: Int, seed: UInt64) {
        var random = UserSequence(seed: seed, users: 1 << 30)
        let webAccounts = max(1, min(1000, users - Self.firstWebAccount))
        for index in 0..<count {
            let offset = Double(index) / 1000
            if random.next() % 10 < 7 {
                let pair = random.next() % Self.pairs
                // Pair p is account u<p+2> from 10.1.<p>.1; every tenth pair keeps failing.
                events.append(Event(account: pair + 2, pair: pair, type: pair.isMultiple(of: 2) ? .pop3 : .smtp, ip: "10.1.\(pair).1",
                                    outcome: pair % 10 == 9 ? .failure(.wrongPassword) : .success, offset: offset))
            } else {
                let account = Self.firstWebAccount + random.next() % webAccounts
                events.append(Event(account: account, pair: nil, type: .pcBrowser, ip: "198.51.100.\(index % 250 + 1)",
                                    outcome: .success, offset: offset))
            }
        }
    }
}

enum AuditBench {
    enum Side: String, CaseIterable { case gwdir, naive, c }

    /// Each run writes at its own time, three days after the previous one, so no run folds into
    /// another's entries (the folding window is a day and an hour) and none is old enough to purge.
    static func epoch(_ run: Int) -> Date {
        Date(timeIntervalSince1970: 1_893_456_000 + Double(run) * 3 * 86_400)  // 2030-01-01
    }

    static func run(_ options: Options, _ bench: BenchDirectory) async throws -> [String] {
        let workload = AuditWorkload(count: options.auditEvents, users: options.users, seed: 7)
        var results: [Side: [Measurement]] = [:]
        /// slapd's CPU per event for each side's runs: the server's share of the two cores.
        var serverMicros: [Side: [Double]] = [:]
        var run = 0
        for round in 0..<options.auditRounds {
            let only = ProcessInfo.processInfo.environment["GWB_AUDIT_SIDE"].flatMap(Side.init(rawValue:))
            let order = only.map { [$0] } ?? roundOrder(round)
            for side in order {
                let t0 = epoch(run)
                run += 1
                let prefix = "\(side.rawValue.prefix(1))\(run)-"
                let measurement: Measurement
                let serverBefore = bench.slapd.processID.flatMap(processCPUSeconds(of:))
                switch side {
                case .gwdir:
                    measurement = try await Task.detached { try await gwdir(workload, bench, options, t0: t0) }.value
                case .naive:
                    measurement = try await Task.detached { try await naive(workload, bench, t0: t0, prefix: prefix) }.value
                case .c:
                    measurement = try c(workload, bench, options, t0: t0, prefix: prefix)
                }
                if let serverBefore, let serverAfter = bench.slapd.processID.flatMap(processCPUSeconds(of:)) {
                    serverMicros[side, default: []].append((serverAfter - serverBefore) * 1e6 / Double(measurement.ops))
                }
                try await verify(bench, t0: t0, expected: workload.events.count, side: side.rawValue)
                results[side, default: []].append(measurement)
            }
            let latest = Side.allCases.map { String(format: "%@=%.0f", $0.rawValue, results[$0]?.last?.opsPerSecond ?? 0) }
            let last = { (side: Side) in results[side]?.last?.opsPerSecond ?? 0 }
            // Per event: the client's CPU and slapd's, in µs, and how busy the two cores were.
            let load = Side.allCases.compactMap { side -> String? in
                guard let measurement = results[side]?.last, let server = serverMicros[side]?.last else { return nil }
                let busy = (measurement.cpuMicrosPerOp + server) * measurement.opsPerSecond / 1e6
                return String(format: "%@:%.0f+%.0fus/%.2fcores", side.rawValue, measurement.cpuMicrosPerOp, server, busy)
            }
            print("round \(round + 1) audit \(latest.joined(separator: " "))"
                  + String(format: " ratio_naive=%.2f ratio_c=%.2f", last(.gwdir) / last(.naive), last(.gwdir) / last(.c))
                  + " cpu " + load.joined(separator: " "))
        }
        func rate(_ side: Side) -> Double { median(results[side]?.map(\.opsPerSecond) ?? []) }
        func cpu(_ side: Side) -> Double { median(results[side]?.map(\.cpuMicrosPerOp) ?? []) }
        // The three sides of a round run back to back, so they share the machine's load of
        // the moment (on a VM with noisy neighbours it drifts by tens of percent between
        // rounds): the median of the rounds' own ratios compares like with like. The ratio of
        // the medians mixes rounds and is printed beside it.
        func pairedRatios(_ other: Side) -> [Double] {
            let ours = results[.gwdir] ?? [], theirs = results[other] ?? []
            return zip(ours, theirs).map { $0.opsPerSecond / $1.opsPerSecond }
        }
        let naiveRatios = pairedRatios(.naive), cRatios = pairedRatios(.c)
        let ratioNaive = median(naiveRatios), ratioC = median(cRatios)
        print(String(format: "bench audit events=%d gwdir=%.0f naive=%.0f c=%.0f ratio_naive=%.2f ratio_c=%.2f cpu_us_gwdir=%.1f cpu_us_naive=%.1f cpu_us_c=%.1f",
                     workload.events.count, rate(.gwdir), rate(.naive), rate(.c), ratioNaive, ratioC, cpu(.gwdir), cpu(.naive), cpu(.c)))
        print("audit slapd cpu_us per event: " + Side.allCases.map { String(format: "%@=%.1f", $0.rawValue, median(serverMicros[$0] ?? [])) }
            .joined(separator: " "))
        print(String(format: "audit ratio of medians: ratio_naive=%.2f ratio_c=%.2f",
                     rate(.gwdir) / rate(.naive), rate(.gwdir) / rate(.c)))
        print(String(format: "audit rounds' ratios, quartiles: ratio_naive %.2f %.2f %.2f  ratio_c %.2f %.2f %.2f",
                     quantile(naiveRatios, 0.25), ratioNaive, quantile(naiveRatios, 0.75),
                     quantile(cRatios, 0.25), ratioC, quantile(cRatios, 0.75)))
        print(String(format: "audit ratio_naive=%.2f ratio_c=%.2f (events/s, median of the rounds' ratios)", ratioNaive, ratioC))
        var missed: [String] = []
        if ratioNaive < 3 { missed.append(String(format: "audit ratio_naive=%.2f<3.00", ratioNaive)) }
        if ratioC < 0.9 { missed.append(String(format: "audit ratio_c=%.2f<0.90", ratioC)) }
        return missed
    }

    /// gwdir runs between the two baselines, so each of its ratios compares runs next to each
    /// other in time; which baseline goes first alternates, so a drift of the machine's load
    /// within a round favours neither.
    static func roundOrder(_ round: Int) -> [Side] {
        round.isMultiple(of: 2) ? [.c, .gwdir, .naive] : [.naive, .gwdir, .c]
    }

    static func accountDN(_ bench: BenchDirectory, _ account: Int) -> String { "uid=u\(account),\(bench.peopleDN)" }

    /// ``accountDN(_:_:)`` parsed, as LoginEvent holds it; the bench's own DNs always parse.
    static func parsedAccountDN(_ bench: BenchDirectory, _ account: Int) -> DistinguishedName {
        do { return try DistinguishedName(accountDN(bench, account)) } catch { preconditionFailure("\(error)") }
    }

    static func loginEvent(_ event: AuditWorkload.Event, _ bench: BenchDirectory, t0: Date) -> LoginEvent {
        LoginEvent(time: t0.addingTimeInterval(event.offset), accountDN: parsedAccountDN(bench, event.account),
                   loginName: "u\(event.account)@\(bench.domain)", type: event.type, client: event.pair == nil ? "chrome" : event.type.rawValue,
                   ip: IPAddress(event.ip), country: nil, outcome: event.outcome)
    }

    /// AuditLog.record from `auditWindow` callers at once, each recording its next event when
    /// the previous one is stored (as the policy endpoint's connections would), on one connection.
    static func gwdir(_ workload: AuditWorkload, _ bench: BenchDirectory, _ options: Options, t0: Date) async throws -> Measurement {
        try await record(workload.events.map { loginEvent($0, bench, t0: t0) }, bench, window: options.auditWindow, t0: t0, as: bench.root)
    }

    /// `events` through AuditLog.record from `window` callers at once, on one connection bound
    /// as `credentials` (also the policy benchmark's baseline, as the service account).
    static func record(_ events: [LoginEvent], _ bench: BenchDirectory, window: Int, t0: Date, as credentials: LDAPCredentials) async throws -> Measurement {
        let connection = try await LDAPConnection.connect(configuration: bench.configuration(credentials))
        defer { connection.close() }
        let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: bench.slapd.baseDN), now: { t0 })
        // Retention off: the baselines do not purge, and with runs three days apart a purge
        // from round 8 on would delete the first runs' entries inside the timed run.
        let log = AuditLog(context: context, purgeInterval: nil)
        return try await record(events, into: log, on: connection.executor, window: window)
    }

    /// `events` recorded into `log` by `window` callers at once, on `executor`, until the last
    /// deferred last login is written too.
    static func record(_ events: [LoginEvent], into log: AuditLog, on executor: any TaskExecutor, window: Int) async throws -> Measurement {
        let cursor = EventCursor()
        return try await measure(on: executor) {
            try await withThrowingDiscardingTaskGroup { group in
                for _ in 0..<min(window, events.count) {
                    group.addTask {
                        while true {
                            let index = cursor.take()
                            guard index < events.count else { return }
                            try await log.record(events[index])
                        }
                    }
                }
            }
            // The last logins still deferred are part of the cost: written before the clock stops.
            try await log.flushLastLogins()
            return events.count
        }
    }

    /// What a first implementation would do: one entry per event, each add awaited.
    static func naive(_ workload: AuditWorkload, _ bench: BenchDirectory, t0: Date, prefix: String) async throws -> Measurement {
        let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
        defer { connection.close() }
        let base = try DirectoryLayout(base: bench.slapd.baseDN).auditEvents
        let workspace = bench.workspaceDN
        return try await measure(on: connection.executor) {
            for (index, event) in workload.events.enumerated() {
                let time = GeneralizedTime.format(t0.addingTimeInterval(event.offset))
                var attributes = [
                    LDAPAttribute("objectClass", "gwLoginEvent"), LDAPAttribute("gwEventId", "\(prefix)\(index)"),
                    LDAPAttribute("gwAccountRef", accountDN(bench, event.account)), LDAPAttribute("gwLoginName", "u\(event.account)@\(bench.domain)"),
                    LDAPAttribute("gwLoginType", event.type.rawValue), LDAPAttribute("gwLoginClient", event.pair == nil ? "chrome" : event.type.rawValue),
                    LDAPAttribute("gwClientIP", event.ip), LDAPAttribute("gwCountry", "unknown"),
                    LDAPAttribute("gwLoginResult", event.outcome.result.rawValue), LDAPAttribute("gwFirstTime", time),
                    LDAPAttribute("gwLastTime", time), LDAPAttribute("gwEventCount", "1"), LDAPAttribute("gwWorkspaceRef", workspace),
                ]
                if let reason = event.outcome.reason { attributes.append(LDAPAttribute("gwFailureReason", reason.rawValue)) }
                _ = try await connection.add(dn: try base.child(type: "gwEventId", value: "\(prefix)\(index)"), attributes: attributes)
            }
            return workload.events.count
        }
    }

    /// The raw libldap loop, told the writes AuditLog makes: the first event of a pair searches
    /// and adds, the rest increment (moving gwLastTime when the second changes); a success
    /// moves the account's last login when it opens the account's minute, and the newest login
    /// deferred inside a minute is written at the end, as `flushLastLogins` does. It coalesces
    /// increments and last-login writes the way AuditLog does (gwb_audit_pipelined).
    static func c(_ workload: AuditWorkload, _ bench: BenchDirectory, _ options: Options, t0: Date, prefix: String) throws -> Measurement {
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func keep(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text, let copy = strdup(text) else { return nil }
            strings.append(copy)
            return UnsafePointer(copy)
        }
        let policy = AuditFoldingPolicy()
        let lookBack = policy.maxGap.components.seconds + policy.maxSpan.components.seconds
        var pairLast: [Int: String] = [:]
        // Per account: the login time that opened its minute, and the newest deferred login.
        var lastLoginClaimed: [Int: Date] = [:]
        var lastLoginDeferred: [Int: (index: Int, time: Date)] = [:]
        var plan: [gwb_audit_event] = []
        plan.reserveCapacity(workload.events.count)
        for (index, event) in workload.events.enumerated() {
            let date = t0.addingTimeInterval(event.offset)
            let time = GeneralizedTime.format(date)
            var kind: Int32 = 0, widen: Int32 = 0, lastLogin: Int32 = 0
            if let pair = event.pair {
                if let last = pairLast[pair] {
                    kind = 2
                    widen = time > last ? 1 : 0
                } else {
                    kind = 1
                }
                pairLast[pair] = max(pairLast[pair] ?? time, time)
            }
            if event.outcome == .success {
                // The workload's times only grow, so the event itself is always the newest.
                let whole = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
                if let claimed = lastLoginClaimed[event.account], whole < claimed.addingTimeInterval(60) {
                    if whole > claimed, lastLoginDeferred[event.account].map({ whole > $0.time }) ?? true {
                        lastLoginDeferred[event.account] = (index, whole)
                    }
                } else {
                    lastLoginClaimed[event.account] = whole
                    lastLoginDeferred[event.account] = nil
                    lastLogin = 1
                }
            }
            plan.append(gwb_audit_event(
                kind: kind, key: Int32(event.pair ?? -1), account: Int32(event.account), widen: widen, last_login: lastLogin,
                account_dn: keep(accountDN(bench, event.account)), login: keep("u\(event.account)@\(bench.domain)"),
                type: keep(event.type.rawValue), client: keep(event.pair == nil ? "chrome" : event.type.rawValue), ip: keep(event.ip),
                result: keep(event.outcome.result.rawValue), reason: keep(event.outcome.reason?.rawValue), time: keep(time),
                since: keep(GeneralizedTime.format(date.addingTimeInterval(-Double(lookBack)))), workspace_dn: keep(bench.workspaceDN)
            ))
        }
        let deferred = lastLoginDeferred.values.map(\.index).sorted()
        var error = [CChar](repeating: 0, count: 512)
        guard let connection = gwb_open(bench.slapd.uri, bench.rootDN, bench.rootPassword, &error, Int32(error.count)) else {
            throw SlapdError(description: "C: \(cText(error))")
        }
        defer { gwb_close(connection) }
        let cpu = processCPUSeconds()
        let start = monotonicSeconds()
        var rc = gwb_audit_pipelined(connection, "ou=events,ou=audit,\(bench.slapd.baseDN)", prefix, plan, plan.count,
                                     Int32(options.auditWindow), &error, Int32(error.count))
        if rc == 0 {
            rc = gwb_audit_last_logins(connection, plan, deferred, deferred.count, Int32(options.auditWindow), &error, Int32(error.count))
        }
        let seconds = monotonicSeconds() - start
        if rc != 0 { throw SlapdError(description: "C audit: \(cText(error))") }
        return Measurement(ops: plan.count, seconds: seconds, cpuSeconds: processCPUSeconds() - cpu)
    }

    /// Every side must have stored every event: the counts of its entries add up.
    static func verify(_ bench: BenchDirectory, t0: Date, expected: Int, side: String) async throws {
        let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
        defer { connection.close() }
        let filter = LDAPFilter.and([
            .equal("objectClass", "gwLoginEvent"),
            .greaterOrEqual("gwFirstTime", GeneralizedTime.format(t0)),
            .lessOrEqual("gwFirstTime", GeneralizedTime.format(t0.addingTimeInterval(86_400))),
        ])
        var events = 0, entries = 0
        for try await entry in connection.pagedSearch(base: try DirectoryLayout(base: bench.slapd.baseDN).auditEvents, scope: .oneLevel,
                                                      filter: filter, attributes: ["gwEventCount"], pageSize: 1000) {
            events += entry.string("gwEventCount").flatMap { Int($0) } ?? 0
            entries += 1
        }
        guard events == expected else {
            throw SlapdError(description: "audit \(side): \(events) events stored in \(entries) entries, expected \(expected)")
        }
    }
}

/// Hands out event indexes to the benchmark's callers.
final class EventCursor: Sendable {
    private let next = Atomic<Int>(0)
    func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}
