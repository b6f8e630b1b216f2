// The IMAP benchmark (issue 12): logins/s through Debian's Dovecot (docker/dovecot templates,
// LDAP passdb/userdb against the bench slapd) with the auth policy pointing at an in-process
// `gwdir serve` (BenchPolicyServer, spool on), against the same Dovecot configuration without it,
// in alternating rounds. Clients: LocalMailServers' MailClient (blocking sockets) on threads of
// their own (never Swift's cooperative pool), each connect → `a1 LOGIN` (the tagged OK checked) →
// `a2 LOGOUT`, from source addresses across 127.0.0.0/8 (Dovecot passes each as the policy's `remote`).
import Directory
import DirectoryServer
import Foundation
import LocalMailServers
import LocalSlapd
import Synchronization

enum ImapBench {
    static let target = 0.8

    static func run(_ options: Options, _ bench: BenchDirectory) async throws -> [String] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dovecot") else {
            print("bench imap skipped: /usr/sbin/dovecot not installed (Debian: dovecot-imapd, dovecot-ldap, dovecot-sieve)")
            return []
        }
        let server = try await BenchPolicyServer.start(bench, as: PolicyBench.identity(options, bench).credentials)
        let values = [
            "LDAP_URI": bench.slapd.uri, "BASE_DN": bench.slapd.baseDN,
            "DOVECOT_DN": bench.dovecotDN, "DOVECOT_PW": bench.dovecotPassword,
        ]
        let policy = DovecotServer.Policy(url: "http://127.0.0.1:\(server.port)\(DirectoryServer.policyPath)", key: server.key)
        let dovecots: (off: DovecotServer, on: DovecotServer)
        do {
            // Both run for the whole benchmark (an idle one costs nothing); starting blocks, so on a thread.
            dovecots = try await onThreadOfItsOwn {
                let off = try DovecotServer.start(ldapValues: values, policy: nil)
                do {
                    return (off, try DovecotServer.start(ldapValues: values, policy: policy))
                } catch {
                    off.stop()
                    throw error
                }
            }
        } catch {
            await server.stop()
            throw error
        }
        let result: Result<[String], any Error>
        do {
            result = .success(try await compare(options, bench, dovecots, server))
        } catch {
            result = .failure(error)
        }
        await onThreadOfItsOwn {
            dovecots.off.stop()
            dovecots.on.stop()
        }
        await server.stop()
        return try result.get()
    }

    static func compare(_ options: Options, _ bench: BenchDirectory, _ dovecots: (off: DovecotServer, on: DovecotServer),
                        _ server: BenchPolicyServer) async throws -> [String] {
        let accounts = (0..<max(1, min(options.imapAccounts, options.users - 2))).map { 2 + $0 }
        let logins = options.imapLogins, concurrency = options.imapConcurrency
        print("config imap logins=\(logins) concurrency=\(concurrency) accounts=\(accounts.count) rounds=\(options.imapRounds) "
              + "policy_server=in-process DirectoryServer, spool on")
        // Warm-up: one login per account on each server, so both have created every mailbox
        // before anything is timed (the first login of an account makes its Maildir).
        for (name, dovecot) in [("off", dovecots.off), ("on", dovecots.on)] {
            let warm = try await ImapLoad.run(port: dovecot.imapPort, bench, accounts: accounts, count: accounts.count,
                                              concurrency: concurrency, sourceOffset: 0)
            guard warm.failures == 0 else {
                throw SlapdError(description: "imap warm-up (policy \(name)): \(warm.failures) failed logins, first: \(warm.firstFailure ?? "-")\n\(dovecot.logText.suffix(2000))")
            }
        }
        var on: [Double] = [], off: [Double] = [], ratios: [Double] = []
        var sourceOffset = accounts.count
        for round in 0..<options.imapRounds {
            var latest: [String: Double] = [:]
            for side in round.isMultiple(of: 2) ? ["off", "on"] : ["on", "off"] {
                let dovecot = side == "on" ? dovecots.on : dovecots.off
                let load = try await ImapLoad.run(port: dovecot.imapPort, bench, accounts: accounts, count: logins,
                                                  concurrency: concurrency, sourceOffset: sourceOffset)
                sourceOffset += logins
                guard load.failures == 0 else {
                    throw SlapdError(description: "imap policy \(side): \(load.failures) failed logins, first: \(load.firstFailure ?? "-")\n\(dovecot.logText.suffix(2000))")
                }
                latest[side] = Double(logins) / load.seconds
            }
            on.append(latest["on"]!)
            off.append(latest["off"]!)
            ratios.append(latest["on"]! / latest["off"]!)
            print(String(format: "round %d imap policy_on=%.0f policy_off=%.0f logins/s ratio=%.2f", round + 1, latest["on"]!, latest["off"]!, ratios.last!))
        }
        // Dovecot reports after it has answered the client: wait (bounded) until the server has
        // every report of the warm-up and the timed rounds, so none is lost unnoticed.
        let expected = UInt64(accounts.count + logins * options.imapRounds)
        let deadline = monotonicSeconds() + 30
        while server.spooled.spool.durableSequence < expected, monotonicSeconds() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let reports = server.spooled.spool.durableSequence
        let ratio = median(ratios)
        let pass = ratio >= target
        print(String(format: "bench imap logins=%d concurrency=%d policy_on_logins_per_s=%.0f policy_off_logins_per_s=%.0f ratio=%.2f target>=%.2f %@ reports_recorded=%llu/%llu",
                     logins, concurrency, median(on), median(off), ratio, target, pass ? "PASS" : "FAIL", reports, expected))
        var missed: [String] = pass ? [] : [String(format: "imap ratio=%.2f<%.2f", ratio, target)]
        if reports != expected { missed.append("imap reports_recorded=\(reports)/\(expected)") }
        return missed
    }

}

/// `count` IMAP logins from `concurrency` threads with blocking sockets.
enum ImapLoad {
    struct Result: Sendable {
        var seconds: Double
        var failures: Int
        var firstFailure: String?
    }

    /// Login `i` is account `accounts[i mod n]` from 127.a.b.c, a distinct address per login
    /// (numbered from `sourceOffset`), so no per-address limit of Dovecot's applies.
    static func run(port: Int, _ bench: BenchDirectory, accounts: [Int], count: Int, concurrency: Int, sourceOffset: Int) async throws -> Result {
        let domain = bench.domain, password = bench.userPassword
        return await onThreadOfItsOwn {
            let state = LoadState()
            let start = monotonicSeconds()
            let threads = min(concurrency, count)
            let finished = DispatchSemaphore(value: 0)
            for _ in 0..<threads {
                Thread {
                    defer { finished.signal() }
                    while true {
                        let index = state.cursor.add(1, ordering: .relaxed).oldValue
                        guard index < count else { return }
                        let n = sourceOffset + index
                        let source = "127.\(1 + (n / 62_500) % 250).\((n / 250) % 250).\(n % 250 + 1)"
                        let user = "u\(accounts[index % accounts.count])@\(domain)"
                        let failure: String?
                        do {
                            let answer = try MailClient.blockingIMAPLogin(port: port, source: source, user: user, password: password)
                            failure = answer.ok ? nil : answer.line
                        } catch {
                            failure = "\(error)"
                        }
                        if let failure {
                            state.failures.withLock {
                                $0.count += 1
                                if $0.first == nil { $0.first = "\(user) from \(source): \(failure)" }
                            }
                        }
                    }
                }.start()
            }
            for _ in 0..<threads { finished.wait() }
            let seconds = monotonicSeconds() - start
            return state.failures.withLock { Result(seconds: seconds, failures: $0.count, firstFailure: $0.first) }
        }
    }

    final class LoadState: Sendable {
        let cursor = Atomic<Int>(0)
        let failures = Mutex<(count: Int, first: String?)>((0, nil))
    }
}
