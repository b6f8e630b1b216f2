// gwdir-bench: LDAPClient against a raw libldap C loop (CBenchBaseline) and python-ldap,
// on the same slapd, in alternating rounds. See Benchmarks/README.md.
import CBenchBaseline
import Directory
import Foundation
import LDAPClient
import LocalSlapd
#if canImport(Glibc)
import Glibc
#endif

// MARK: Options

struct Options {
    var users = 100_000
    var rounds = 3
    var quick = false
    var only: Set<String>?
    var python = "/usr/bin/python3"
    var pythonScript: String?
    var dataParent: String?
    var strict = false
    var sides = Set(Side.allCases)
    var keep = false
    var slapdLogLevel = "none"

    // Operations per side per round.
    var bindCount = 10_000
    var searchCount = 10_000
    var pipelinedCount = 40_000
    var addCount = 10_000
    var incrementCount = 5_000
    var auditEvents = 10_000
    var auditWindow = 512
    /// The audit benchmark's own round count: its runs are short (about 10 s a round for all
    /// three sides) and one run moves ±10% with this VM's neighbours, which is as large as the
    /// margin to its ratio_c target, so it takes more rounds than the others to judge.
    var auditRounds = 11
    /// Concurrent password checks of the login benchmark, and the verifier's connection limit.
    var logins = 2_000
    var loginConnections = 16
    /// The policy benchmark (PolicyBench): report events per side per round, keep-alive
    /// connections, rounds; then `allow` at a fixed rate for a fixed time.
    var policyEvents = 10_000
    var policyConnections = 256
    /// Accounts the policy workload logs in (u2, u3, ...; at most --users − 2).
    var policyAccounts = 1_000
    /// Who the policy server and its baseline bind as: `service` (cn=gwdir, as `gwdir serve`) or
    /// `root` (the rootDN, which skips every ACL: shows what slapd's ACL evaluation costs).
    var policyAsRoot = false
    var imapRounds = 3
    /// Rounds of the policy report benchmark: its rounds swing by ±0.1 on 2 cores (slapd's
    /// share moves with the audit database's size and the machine's hour), so its median takes more.
    var reportRounds = 7
    /// Print each policy report side's CPU per event by thread name (/proc/self/task).
    var threadCPU = false
    var allowRate = 1_000
    var allowSeconds = 10
    var allowConnections = 32
    /// IMAP logins through Dovecot per side per round (ImapBench), concurrent clients, and the
    /// accounts they cycle through.
    var imapLogins = 2_000
    var imapConcurrency = 32
    var imapAccounts = 256
    let searchWindow = 32
    let addWindow = 64
    let pageSize = 1000
    let memoryLimitMB = 64.0

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var usersGiven = false, roundsGiven = false, reportRoundsGiven = false, auditGiven = false, auditRoundsGiven = false
        var policyGiven = false, allowGiven = false, imapGiven = false
        var iterator = arguments.makeIterator()
        func value(_ flag: String) -> String {
            guard let value = iterator.next() else { fail("\(flag) needs a value") }
            return value
        }
        while let argument = iterator.next() {
            switch argument {
            case "--users": options.users = Int(value(argument)) ?? 0; usersGiven = true
            case "--rounds": options.rounds = Int(value(argument)) ?? 0; roundsGiven = true
            case "--quick": options.quick = true
            case "--audit-events": options.auditEvents = Int(value(argument)) ?? 0; auditGiven = true
            case "--audit-window": options.auditWindow = Int(value(argument)) ?? 0
            case "--policy-rounds": options.reportRounds = Int(value(argument)) ?? 0; reportRoundsGiven = true
            case "--audit-rounds": options.auditRounds = Int(value(argument)) ?? 0; auditRoundsGiven = true
            case "--logins": options.logins = Int(value(argument)) ?? 0
            case "--login-connections": options.loginConnections = Int(value(argument)) ?? 0
            case "--policy-events": options.policyEvents = Int(value(argument)) ?? 0; policyGiven = true
            case "--policy-connections": options.policyConnections = Int(value(argument)) ?? 0
            case "--policy-accounts": options.policyAccounts = Int(value(argument)) ?? 0
            case "--policy-as":
                switch value(argument) {
                case "service": options.policyAsRoot = false
                case "root": options.policyAsRoot = true
                default: fail("--policy-as takes service or root")
                }
            case "--thread-cpu": options.threadCPU = true
            case "--allow-rate": options.allowRate = Int(value(argument)) ?? 0
            case "--allow-seconds": options.allowSeconds = Int(value(argument)) ?? 0; allowGiven = true
            case "--allow-connections": options.allowConnections = Int(value(argument)) ?? 0
            case "--imap-logins": options.imapLogins = Int(value(argument)) ?? 0; imapGiven = true
            case "--imap-concurrency": options.imapConcurrency = Int(value(argument)) ?? 0
            case "--only": options.only = Set(value(argument).split(separator: ",").map(String.init))
            case "--python": options.python = value(argument)
            case "--python-script": options.pythonScript = value(argument)
            case "--data-dir": options.dataParent = value(argument)
            case "--strict": options.strict = true
            case "--keep": options.keep = true
            case "--slapd-log": options.slapdLogLevel = value(argument)
            case "--sides":
                options.sides = Set(value(argument).split(separator: ",").map { sideNamed(String($0)) })
            case "-h", "--help":
                print("""
                usage: gwdir-bench [--users N] [--rounds N] [--quick] [--only bind,search,...] [--strict] [--sides gwdir,c,python_ldap]
                                   [--audit-events N] [--audit-window N] [--audit-rounds N]
                                   [--keep] [--slapd-log LEVEL]
                                   [--python /usr/bin/python3] [--python-script PATH] [--data-dir DIR]
                  --quick   smoke run: 2,000 users, small operation counts, 1 round (unless --rounds)
                  --keep    leave slapd running with its data (debugging); --slapd-log sets olcLogLevel (e.g. stats)
                  --strict  exit 1 when a ratio target is missed (the paged memory limit always fails the run)
                  --audit-events N  login events per audit run (10000; --quick 2000); --audit-window N  events in flight (512)
                  --logins N  concurrent password checks of the logins benchmark (2000); --login-connections N  the verifier's limit (16)
                  --audit-rounds N  rounds of the audit benchmark (11; --rounds N sets it too unless given; --quick 1)
                  --policy-events N  report requests per side per round of the policy benchmark (10000; --quick 1000);
                  --policy-connections N  keep-alive HTTP connections sending them (256); --policy-rounds N (7; --rounds N sets it too unless given);
                  --policy-accounts N  accounts they log in (1000); --policy-as service|root  who the server binds as (service)
                  --thread-cpu  print the HTTP side's CPU per event by thread (ldap-connection, NIO-..., the global pool)
                  --allow-rate N  allow requests per second, open loop (1000); --allow-seconds N (10; --quick 2);
                  --allow-connections N (32)
                  --imap-logins N  IMAP logins per side per round of the imap benchmark (2000; --quick 300);
                  --imap-concurrency N  concurrent IMAP clients (32)
                benchmarks: \(Benchmark.allCases.map(\.rawValue).joined(separator: ", "))
                """)
                exit(0)
            default: fail("unknown argument \(argument) (try --help)")
            }
        }
        if options.quick {
            if !usersGiven { options.users = 2_000 }
            if !roundsGiven { options.rounds = 1 }
            options.bindCount = 500
            options.searchCount = 500
            options.pipelinedCount = 2_000
            options.addCount = 1_000
            options.incrementCount = 300
            if !auditGiven { options.auditEvents = 2_000 }
            if !policyGiven { options.policyEvents = 1_000 }
            if !allowGiven { options.allowSeconds = 2 }
            if !imapGiven { options.imapLogins = 300 }
            options.imapAccounts = 64
        }
        options.imapRounds = options.rounds
        if !reportRoundsGiven, roundsGiven || options.quick { options.reportRounds = options.rounds }
        if !auditRoundsGiven, roundsGiven || options.quick { options.auditRounds = options.rounds }
        guard options.logins >= 1, options.loginConnections >= 1 else { fail("--logins and --login-connections must be ≥ 1") }
        guard options.policyEvents >= 1, options.policyConnections >= 1, options.policyAccounts >= 1, options.allowRate >= 1, options.allowRate <= 1_000_000,
              options.allowSeconds >= 1, options.allowConnections >= 1, options.imapLogins >= 1, options.imapConcurrency >= 1
        else { fail("the policy and imap counts must be ≥ 1") }
        guard options.users >= 2, options.rounds >= 1, options.reportRounds >= 1 else { fail("--users must be ≥ 2, --rounds and --policy-rounds ≥ 1") }
        guard options.auditEvents >= 1, options.auditWindow >= 1, options.auditRounds >= 1 else {
            fail("--audit-events, --audit-window and --audit-rounds must be ≥ 1")
        }
        if let only = options.only {
            let unknown = only.subtracting(Benchmark.allCases.map(\.rawValue))
            if !unknown.isEmpty { fail("unknown benchmark(s): \(unknown.sorted().joined(separator: ", "))") }
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gwdir-bench: \(message)\n".utf8))
    exit(2)
}

enum Benchmark: String, CaseIterable {
    case bind, search, search32, paged, add, increment
    /// Login events through AuditLog against a naive add loop and raw libldap; its own runner
    /// (`AuditBench`), since its sides differ from the others'.
    case audit
    /// Concurrent password checks through LDAPBindVerifier (`LoginBench`): rate, latency,
    /// threads and RSS, gwdir only.
    case logins
    /// Dovecot's auth-policy endpoint over HTTP (`PolicyBench`): report events/s against the
    /// in-process AuditLog, allow latency at a fixed rate.
    case policy
    /// IMAP logins/s through a real Dovecot with the auth policy on against off (`ImapBench`).
    case imap

    /// Run by their own runners, not in the three-sided rounds.
    var hasOwnRunner: Bool { [.audit, .logins, .policy, .imap].contains(self) }

    /// The ratio_c target of issue #2 item 9.
    var cTarget: Double {
        switch self {
        case .bind, .search: 0.90
        default: 0.85
        }
    }
}

enum Side: String, CaseIterable {
    case gwdir, c, python = "python_ldap"
}

func sideNamed(_ name: String) -> Side {
    guard let side = Side(rawValue: name) else { fail("unknown side \(name) (gwdir, c, python_ldap)") }
    return side
}

// MARK: Measuring

struct Measurement {
    var ops: Int
    var seconds: Double
    /// Client CPU (user + sys) for the whole run, seconds.
    var cpuSeconds: Double
    var opsPerSecond: Double { Double(ops) / seconds }
    var cpuMicrosPerOp: Double { cpuSeconds * 1e6 / Double(ops) }
}

func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU time (user + sys) a process has used, from /proc/<pid>/stat, in clock ticks' precision
/// (10 ms): the benchmark reads slapd's around a run to show the server's share per operation.
func processCPUSeconds(of pid: pid_t) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.lastIndex(of: ")") else { return nil }
    // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: afterName)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Times `body` (which returns its operation count) with this process's CPU around it.
/// Measures `body` running on the connection's executor, so gwdir's loop makes no thread hop per
/// operation (the way an LDAP-bound handler would use LDAPClient).
func measure(on executor: any TaskExecutor, _ body: () async throws -> Int) async rethrows -> Measurement {
    try await withTaskExecutorPreference(executor) {
        try await measure(body)
    }
}

func measure(_ body: () async throws -> Int) async rethrows -> Measurement {
    let cpu = processCPUSeconds()
    let start = monotonicSeconds()
    let ops = try await body()
    let seconds = monotonicSeconds() - start
    return Measurement(ops: ops, seconds: seconds, cpuSeconds: processCPUSeconds() - cpu)
}

/// VmRSS / VmHWM from /proc/self/status, in MB.
func procStatusMB(_ field: String) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        let kB = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
        return kB / 1024
    }
    return 0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak of one phase can be read.
func resetPeakRSS() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
}

/// The pseudo-random user sequence shared with the C and Python sides.
struct UserSequence {
    var state: UInt64
    let users: UInt64
    init(seed: UInt64, users: Int) {
        state = seed
        self.users = UInt64(users)
    }
    mutating func next() -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % users)
    }
}

// MARK: The directory under test

struct BenchDirectory {
    let slapd: SlapdInstance
    let workspaceDN: String
    let peopleDN: String
    let addsDN: String
    let domain = "bench.example.com"
    let userPassword = "bench-Passw0rd"
    /// The service accounts of schema/slapd/base.ldif that `gwdir serve` and Dovecot bind as.
    let servicePassword = SlapdOptions.randomPassword()
    let dovecotPassword = SlapdOptions.randomPassword()
    var serviceDN: String { "cn=gwdir,ou=system,\(slapd.baseDN)" }
    var dovecotDN: String { "cn=dovecot,ou=system,\(slapd.baseDN)" }
    var service: LDAPCredentials { .simple(dn: serviceDN, password: servicePassword) }
    var bindUserDN: String { "uid=u0,\(peopleDN)" }
    var counterDN: String { "uid=u1,\(peopleDN)" }
    let counterAttribute = "gwMailUsage"

    var rootDN: String { slapd.rootDN }
    var rootPassword: String { slapd.rootPassword }

    /// Configures slapd from the project templates, writes the users as LDIF, bulk-loads them with
    /// slapadd while slapd is stopped, then starts it.
    static func create(users: Int, parent: String?, logLevel: String) throws -> BenchDirectory {
        let baseDN = "dc=example,dc=com"
        let parentURL: URL
        if let parent {
            parentURL = URL(fileURLWithPath: parent)
        } else if FileManager.default.isWritableFile(atPath: "/dev/shm") {
            // tmpfs: slapd's fsyncs cost nothing, so the client side is what the numbers show.
            parentURL = URL(fileURLWithPath: "/dev/shm")
        } else {
            parentURL = FileManager.default.temporaryDirectory
        }
        let directory = parentURL.appendingPathComponent("gwdir-bench-\(UUID().uuidString.prefix(8))")
        let slapd = SlapdInstance(options: SlapdOptions(directory: directory, baseDN: baseDN, logLevel: logLevel))
        let workspaceDN = "o=bench,ou=workspaces,\(baseDN)"
        let bench = BenchDirectory(
            slapd: slapd, workspaceDN: workspaceDN,
            peopleDN: "ou=people,\(workspaceDN)", addsDN: "ou=adds,\(workspaceDN)"
        )
        do {
            try slapd.configureIfNeeded()
            let ldif = directory.appendingPathComponent("users.ldif")
            var start = monotonicSeconds()
            try bench.writeLDIF(to: ldif, users: users)
            let generated = monotonicSeconds() - start
            start = monotonicSeconds()
            try slapd.slapadd(ldif: ldif)
            let loaded = monotonicSeconds() - start
            try? FileManager.default.removeItem(at: ldif)
            try slapd.start()
            print(String(format: "setup users=%d ldif_s=%.2f slapadd_s=%.2f data=%@ uri=%@", users, generated, loaded, directory.path, slapd.uri))
        } catch {
            slapd.destroy()
            throw error
        }
        return bench
    }

    private func writeLDIF(to url: URL, users: Int) throws {
        guard let file = fopen(url.path, "w") else { throw SlapdError(description: "cannot write \(url.path)") }
        defer { fclose(file) }
        let passwordHash = try SlapdInstance.hashPassword(userPassword)
        let serviceHash = try SlapdInstance.hashPassword(servicePassword)
        let dovecotHash = try SlapdInstance.hashPassword(dovecotPassword)
        let base = slapd.baseDN
        var chunk = SlapdInstance.baseEntriesLDIF(baseDN: base) + """

        dn: ou=workspaces,\(base)
        objectClass: organizationalUnit
        ou: workspaces

        dn: \(workspaceDN)
        objectClass: gwWorkspace
        o: bench
        gwMailDomain: \(domain)

        dn: \(peopleDN)
        objectClass: organizationalUnit
        ou: people

        dn: \(addsDN)
        objectClass: organizationalUnit
        ou: adds

        dn: ou=events,ou=audit,\(base)
        objectClass: organizationalUnit
        ou: events

        dn: ou=ipblocks,ou=audit,\(base)
        objectClass: organizationalUnit
        ou: ipblocks

        dn: ou=system,\(base)
        objectClass: organizationalUnit
        ou: system

        dn: \(serviceDN)
        objectClass: applicationProcess
        objectClass: simpleSecurityObject
        cn: gwdir
        userPassword: \(serviceHash)

        dn: \(dovecotDN)
        objectClass: applicationProcess
        objectClass: simpleSecurityObject
        cn: dovecot
        userPassword: \(dovecotHash)


        """
        chunk.reserveCapacity(1 << 20)
        for index in 0..<users {
            chunk += """
            dn: uid=u\(index),\(peopleDN)
            objectClass: inetOrgPerson
            objectClass: gwAccount
            uid: u\(index)
            cn: Given\(index) Family\(index)
            sn: Family\(index)
            givenName: Given\(index)
            displayName:: \(Data("사용자 \(index)".utf8).base64EncodedString())
            mail: u\(index)@\(domain)
            userPassword: \(passwordHash)
            gwServiceType: both
            gwEnabledService: imap
            gwEnabledService: pop3
            gwEnabledService: smtp
            gwEnabledService: web
            gwAccountStatus: active
            gwMailQuota: 10737418240
            gwMailUsage: 0


            """
            if chunk.utf8.count > (1 << 20) - 4096 {
                fputs(chunk, file)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        fputs(chunk, file)
    }

    func configuration(_ credentials: LDAPCredentials) -> LDAPConfiguration {
        LDAPConfiguration(uri: slapd.uri, credentials: credentials)
    }

    var root: LDAPCredentials { .simple(dn: rootDN, password: rootPassword) }
}

// MARK: The three sides

/// LDAPClient. Each measured loop runs on its connection's executor (`LDAPConnection.executor`).
enum GWDirSide {
    static func run(_ benchmark: Benchmark, _ bench: BenchDirectory, _ options: Options, round: Int) async throws -> Measurement {
        let seed = UInt64(round + 1)
        switch benchmark {
        case .bind:
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(.anonymous))
            defer { connection.close() }
            let credentials = LDAPCredentials.simple(dn: bench.bindUserDN, password: bench.userPassword)
            try await connection.bind(credentials)
            return try await measure(on: connection.executor) {
                for _ in 0..<options.bindCount { try await connection.bind(credentials) }
                return options.bindCount
            }
        case .search:
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
            defer { connection.close() }
            _ = try await connection.search(base: try DistinguishedName(bench.peopleDN), filter: .equal("mail", "u0@\(bench.domain)"))
            let people = try DistinguishedName(bench.peopleDN)
            return try await measure(on: connection.executor) {
                var users = UserSequence(seed: seed, users: options.users)
                var entries = 0
                for _ in 0..<options.searchCount {
                    let filter = LDAPFilter.equal("mail", "u\(users.next())@\(bench.domain)")
                    entries += try await connection.search(base: people, filter: filter).entries.count
                }
                guard entries == options.searchCount else { throw SlapdError(description: "search: \(entries) entries for \(options.searchCount) searches") }
                return options.searchCount
            }
        case .search32:
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
            defer { connection.close() }
            _ = try await connection.search(base: try DistinguishedName(bench.peopleDN), filter: .equal("mail", "u0@\(bench.domain)"))
            let count = options.pipelinedCount, window = options.searchWindow
            let base = try DistinguishedName(bench.peopleDN), domain = bench.domain
            return try await measure(on: connection.executor) {
                var users = UserSequence(seed: seed, users: options.users)
                var entries = 0
                try await withThrowingTaskGroup(of: Int.self) { group in
                    var sent = 0
                    func launch() {
                        let filter = LDAPFilter.equal("mail", "u\(users.next())@\(domain)")
                        group.addTask { try await connection.search(base: base, filter: filter).entries.count }
                        sent += 1
                    }
                    while sent < min(window, count) { launch() }
                    while let found = try await group.next() {
                        entries += found
                        if sent < count { launch() }
                    }
                }
                guard entries == count else { throw SlapdError(description: "search32: \(entries) entries for \(count) searches") }
                return count
            }
        case .paged:
            // ou=people and its users: N + 1 entries. slapd 2.5.13 (back-mdb) answers the request
            // after a *full* last page with unwillingToPerform (53), so a listing whose size is an
            // exact multiple of the page size fails at its end, in every client (see README).
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
            defer { connection.close() }
            let people = try DistinguishedName(bench.peopleDN)
            return try await measure(on: connection.executor) {
                var entries = 0
                for try await entry in connection.pagedSearch(
                    base: people, scope: .subtree, filter: .present("objectClass"), pageSize: options.pageSize
                ) where !entry.dn.isEmpty {
                    entries += 1
                }
                return entries
            }
        case .add:
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
            defer { connection.close() }
            let count = options.addCount, window = options.addWindow
            let parent = try DistinguishedName(bench.addsDN), domain = bench.domain, prefix = "g\(round)-"
            return try await measure(on: connection.executor) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var sent = 0
                    func launch() {
                        let uid = "\(prefix)\(sent)"
                        group.addTask {
                            try await connection.add(dn: try parent.child(type: "uid", value: uid), attributes: [
                                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
                                LDAPAttribute("uid", uid),
                                LDAPAttribute("cn", "Bench \(uid)"),
                                LDAPAttribute("sn", "Bench"),
                                LDAPAttribute("mail", "\(uid)@\(domain)"),
                            ])
                        }
                        sent += 1
                    }
                    while sent < min(window, count) { launch() }
                    while try await group.next() != nil {
                        if sent < count { launch() }
                    }
                }
                return count
            }
        case .audit, .logins, .policy, .imap:
            throw SlapdError(description: "audit runs in AuditBench")
        case .increment:
            let connection = try await LDAPConnection.connect(configuration: bench.configuration(bench.root))
            defer { connection.close() }
            let increment = [LDAPModification.increment(bench.counterAttribute)]
            let counter = try DistinguishedName(bench.counterDN)
            try await connection.modify(dn: counter, increment)
            return try await measure(on: connection.executor) {
                for _ in 0..<options.incrementCount { try await connection.modify(dn: counter, increment) }
                return options.incrementCount
            }
        }
    }
}

func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The raw libldap loops of CBenchBaseline.
enum CSide {
    static func run(_ benchmark: Benchmark, _ bench: BenchDirectory, _ options: Options, round: Int) throws -> Measurement {
        var error = [CChar](repeating: 0, count: 512)
        let seed = UInt64(round + 1)
        func open(_ dn: String?, _ password: String?) throws -> OpaquePointer {
            guard let conn = gwb_open(bench.slapd.uri, dn, password, &error, Int32(error.count)) else {
                throw SlapdError(description: "C: \(cText(error))")
            }
            return conn
        }
        func check(_ rc: Int32) throws {
            if rc != 0 { throw SlapdError(description: "C \(benchmark): \(cText(error))") }
        }
        let connection = benchmark == .bind ? try open(bench.bindUserDN, bench.userPassword) : try open(bench.rootDN, bench.rootPassword)
        defer { gwb_close(connection) }
        var entries = 0
        // Synchronous C loops: run them straight on this thread, inside the timed region.
        func timed(_ body: () throws -> Int) rethrows -> Measurement {
            let cpu = processCPUSeconds()
            let start = monotonicSeconds()
            let ops = try body()
            return Measurement(ops: ops, seconds: monotonicSeconds() - start, cpuSeconds: processCPUSeconds() - cpu)
        }
        switch benchmark {
        case .bind:
            return try timed {
                try check(gwb_bind_loop(connection, bench.bindUserDN, bench.userPassword, options.bindCount, &error, Int32(error.count)))
                return options.bindCount
            }
        case .search:
            try check(gwb_search_loop(connection, bench.peopleDN, bench.domain, options.users, 1, 99, &entries, &error, Int32(error.count)))
            return try timed {
                try check(gwb_search_loop(connection, bench.peopleDN, bench.domain, options.users, options.searchCount, seed, &entries, &error, Int32(error.count)))
                guard entries == options.searchCount else { throw SlapdError(description: "C search: \(entries) entries") }
                return options.searchCount
            }
        case .search32:
            try check(gwb_search_loop(connection, bench.peopleDN, bench.domain, options.users, 1, 99, &entries, &error, Int32(error.count)))
            return try timed {
                try check(gwb_search_pipelined(connection, bench.peopleDN, bench.domain, options.users, options.pipelinedCount,
                                               Int32(options.searchWindow), seed, &entries, &error, Int32(error.count)))
                guard entries == options.pipelinedCount else { throw SlapdError(description: "C search32: \(entries) entries") }
                return options.pipelinedCount
            }
        case .paged:
            return try timed {
                try check(gwb_paged(connection, bench.peopleDN, Int32(options.pageSize), &entries, &error, Int32(error.count)))
                return entries
            }
        case .add:
            return try timed {
                try check(gwb_add_pipelined(connection, bench.addsDN, "c\(round)-", bench.domain, options.addCount,
                                            Int32(options.addWindow), &error, Int32(error.count)))
                return options.addCount
            }
        case .audit, .logins, .policy, .imap:
            throw SlapdError(description: "audit runs in AuditBench")
        case .increment:
            try check(gwb_increment_loop(connection, bench.counterDN, bench.counterAttribute, 1, &error, Int32(error.count)))
            return try timed {
                try check(gwb_increment_loop(connection, bench.counterDN, bench.counterAttribute, options.incrementCount, &error, Int32(error.count)))
                return options.incrementCount
            }
        }
    }
}

/// python-ldap in a subprocess (Debian's /usr/bin/python3); it times itself and prints JSON.
enum PythonSide {
    static func run(_ benchmark: Benchmark, _ bench: BenchDirectory, _ options: Options, round: Int, script: String) throws -> Measurement {
        var arguments = [script, benchmark.rawValue, "--uri", bench.slapd.uri, "--domain", bench.domain,
                         "--users", String(options.users), "--seed", String(round + 1)]
        let root = ["--bind-dn", bench.rootDN, "--bind-password", bench.rootPassword]
        switch benchmark {
        case .bind:
            arguments += ["--user-dn", bench.bindUserDN, "--user-password", bench.userPassword, "--n", String(options.bindCount)]
        case .search:
            arguments += root + ["--base", bench.peopleDN, "--n", String(options.searchCount)]
        case .search32:
            arguments += root + ["--base", bench.peopleDN, "--n", String(options.pipelinedCount), "--window", String(options.searchWindow)]
        case .paged:
            arguments += root + ["--base", bench.peopleDN, "--page-size", String(options.pageSize)]
        case .add:
            arguments += root + ["--base", bench.addsDN, "--prefix", "p\(round)-", "--n", String(options.addCount), "--window", String(options.addWindow)]
        case .audit, .logins, .policy, .imap:
            throw SlapdError(description: "audit runs in AuditBench")
        case .increment:
            arguments += root + ["--dn", bench.counterDN, "--attribute", bench.counterAttribute, "--n", String(options.incrementCount)]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.python)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let ops = json["ops"] as? Int, let seconds = json["seconds"] as? Double,
              let cpuPerOp = json["cpu_us_per_op"] as? Double
        else {
            throw SlapdError(description: "python \(benchmark) failed (\(process.terminationStatus)): \(errorText)\(String(decoding: data, as: UTF8.self))")
        }
        return Measurement(ops: ops, seconds: seconds, cpuSeconds: cpuPerOp * Double(ops) / 1e6)
    }
}

// MARK: Main

func median(_ values: [Double]) -> Double { quantile(values, 0.5) }

/// The `q` quantile with linear interpolation between closest ranks (0 for no values).
func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    if sorted.isEmpty { return 0 }
    let position = q * Double(sorted.count - 1)
    let below = Int(position.rounded(.down)), above = Int(position.rounded(.up))
    return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
}

func pythonScriptPath(_ options: Options) -> String {
    if let script = options.pythonScript { return script }
    let candidates = [
        FileManager.default.currentDirectoryPath + "/Benchmarks/python_ldap_bench.py",
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Benchmarks/python_ldap_bench.py").path,
    ]
    return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
}

func runAll(_ options: Options, _ bench: BenchDirectory, script: String, wallStart: Double) async throws -> Int32 {
    let benchmarks = Benchmark.allCases.filter { !$0.hasOwnRunner && (options.only?.contains($0.rawValue) ?? true) }
    print("config rounds=\(options.rounds) users=\(options.users) bind=\(options.bindCount) search=\(options.searchCount) "
          + "search32=\(options.pipelinedCount)x\(options.searchWindow) paged=\(options.pageSize)/page add=\(options.addCount)x\(options.addWindow) "
          + "increment=\(options.incrementCount) audit=\(options.auditEvents)x\(options.auditWindow)x\(options.auditRounds)rounds cores=\(ProcessInfo.processInfo.activeProcessorCount) statistic=median-of-rounds")

    var results: [Benchmark: [Side: [Measurement]]] = [:]
    var pagedGrowthMB: [Double] = []
    var exitCode: Int32 = 0
    for round in 0..<options.rounds {
        for benchmark in benchmarks {
            // Rotate who goes first, so warm-up and drift do not favour one side.
            let order = (0..<3).map { Side.allCases[($0 + round) % 3] }.filter(options.sides.contains)
            for side in order {
                let measurement: Measurement
                switch side {
                case .gwdir:
                    if benchmark == .paged {
                        let tracked = resetPeakRSS()
                        let before = procStatusMB("VmRSS")
                        measurement = try await Task.detached { try await GWDirSide.run(benchmark, bench, options, round: round) }.value
                        let growth = (tracked ? procStatusMB("VmHWM") : procStatusMB("VmRSS")) - before
                        pagedGrowthMB.append(growth)
                    } else {
                        measurement = try await Task.detached { try await GWDirSide.run(benchmark, bench, options, round: round) }.value
                    }
                case .c:
                    measurement = try CSide.run(benchmark, bench, options, round: round)
                case .python:
                    measurement = try PythonSide.run(benchmark, bench, options, round: round, script: script)
                }
                results[benchmark, default: [:]][side, default: []].append(measurement)
            }
            let latest = Side.allCases.map { side in
                String(format: "%@=%.0f", side.rawValue, results[benchmark]?[side]?.last?.opsPerSecond ?? 0)
            }
            print("round \(round + 1) \(benchmark.rawValue) \(latest.joined(separator: " "))")
        }
    }

    var missed: [String] = []
    for benchmark in benchmarks {
        let sides = results[benchmark] ?? [:]
        func rate(_ side: Side) -> Double { median(sides[side]?.map(\.opsPerSecond) ?? []) }
        func cpu(_ side: Side) -> Double { median(sides[side]?.map(\.cpuMicrosPerOp) ?? []) }
        let gwdir = rate(.gwdir), c = rate(.c), python = rate(.python)
        let ratioC = gwdir / c, ratioPy = gwdir / python
        var line = String(format: "bench %@ gwdir=%.0f c=%.0f python_ldap=%.0f ratio_c=%.2f ratio_py=%.2f cpu_us_gwdir=%.1f cpu_us_c=%.1f cpu_us_py=%.1f",
                          benchmark.rawValue, gwdir, c, python, ratioC, ratioPy, cpu(.gwdir), cpu(.c), cpu(.python))
        if benchmark == .paged {
            let growth = pagedGrowthMB.max() ?? 0
            line += String(format: " rss_growth_mb=%.1f vmhwm_mb=%.1f", growth, procStatusMB("VmHWM"))
            if growth >= options.memoryLimitMB {
                line += " MEMORY_LIMIT_EXCEEDED"
                exitCode = 1
            }
        }
        print(line)
        // Best-of-rounds too: on a shared machine the fastest round is the least disturbed one.
        func best(_ side: Side) -> Double { sides[side]?.map(\.opsPerSecond).max() ?? 0 }
        print(String(format: "best %@ gwdir=%.0f c=%.0f python_ldap=%.0f ratio_c=%.2f ratio_py=%.2f",
                     benchmark.rawValue, best(.gwdir), best(.c), best(.python), best(.gwdir) / best(.c), best(.gwdir) / best(.python)))
        if ratioC < benchmark.cTarget { missed.append(String(format: "%@ ratio_c=%.2f<%.2f", benchmark.rawValue, ratioC, benchmark.cTarget)) }
        if ratioPy < 1.0 { missed.append(String(format: "%@ ratio_py=%.2f<1.00", benchmark.rawValue, ratioPy)) }
    }
    if options.only?.contains(Benchmark.audit.rawValue) ?? true {
        missed += try await AuditBench.run(options, bench)
    }
    if options.only?.contains(Benchmark.logins.rawValue) ?? true {
        missed += try await LoginBench.run(options, bench)
    }
    if options.only?.contains(Benchmark.policy.rawValue) ?? true {
        missed += try await PolicyBench.run(options, bench)
    }
    if options.only?.contains(Benchmark.imap.rawValue) ?? true {
        missed += try await ImapBench.run(options, bench)
    }
    print(missed.isEmpty ? "targets met" : "targets missed: \(missed.joined(separator: ", "))")
    print(String(format: "total_s=%.1f", monotonicSeconds() - wallStart))
    if options.strict, !missed.isEmpty { exitCode = 1 }
    return exitCode
}

// Line-buffered stdout, so progress shows up when piped (CI logs).
gwb_line_buffer_stdout()
let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let wallStart = monotonicSeconds()
let script = pythonScriptPath(options)
guard FileManager.default.fileExists(atPath: script) else { fail("python-ldap script not found at \(script) (use --python-script)") }
// slapd is started here, on the main thread, before anything is awaited: a child inherits the
// signal mask of the thread that spawns it, and Swift's cooperative-pool threads block SIGTERM,
// so a slapd spawned from a task would ignore `stop()` (it then waits 15 s and SIGKILLs).
let bench: BenchDirectory
do {
    bench = try BenchDirectory.create(users: options.users, parent: options.dataParent, logLevel: options.slapdLogLevel)
} catch {
    fail("\(error)")
}
let code: Int32
do {
    code = try await runAll(options, bench, script: script, wallStart: wallStart)
} catch {
    print("error: \(error)")
    code = 2
}
if options.keep {
    print("kept slapd pid=\(bench.slapd.processIdentifier ?? 0) uri=\(bench.slapd.uri) root=\(bench.rootDN) password=\(bench.rootPassword) log=\(bench.slapd.logFile.path)")
} else {
    let stopStart = monotonicSeconds()
    bench.slapd.destroy()
    print(String(format: "slapd_stop_s=%.2f", monotonicSeconds() - stopStart))
}
exit(code)

/// CPU seconds per thread name of this process (from /proc/self/task), to see where a
/// benchmark side's CPU goes: `--thread-cpu` prints the difference around each policy side.
func threadCPUSeconds() -> [String: Double] {
    var result: [String: Double] = [:]
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return result }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    for task in tasks {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        result[name, default: 0] += (user + system) / ticks
    }
    return result
}
