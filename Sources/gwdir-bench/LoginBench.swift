// The login load test (issue 13 item 4): thousands of concurrent password checks through
// LDAPBindVerifier, whose connections are bounded, printing the thread count and RSS they
// cost. Before the bound each concurrent check opened a connection of its own: 2,000
// concurrent logins were 2,000 threads and sockets.
import Directory
import Foundation
import LDAPClient
import Synchronization

enum LoginBench {
    static func run(_ options: Options, _ bench: BenchDirectory) async throws -> [String] {
        let logins = options.logins
        let maximum = options.loginConnections
        let verifier = LDAPBindVerifier(uris: [bench.slapd.uri], maxConnections: maximum, maxIdle: maximum, waitTimeout: .seconds(300))
        let dns = try (0..<min(logins, options.users)).map { try DistinguishedName("uid=u\($0),\(bench.peopleDN)") }
        _ = resetPeakRSS()
        let threadsBefore = procStatusInt("Threads"), rssBefore = procStatusMB("VmRSS")
        // Samples the thread count while the logins run (threads come and go; the peak counts).
        let peakThreads = Atomic<Int>(threadsBefore)
        let sampling = Atomic<Bool>(true)
        let sampler = Thread {
            while sampling.load(ordering: .relaxed) {
                peakThreads.max(procStatusInt("Threads"), ordering: .relaxed)
                usleep(5_000)
            }
        }
        sampler.start()
        let start = monotonicSeconds()
        let (latencies, failures) = await withTaskGroup(of: (Double, Bool).self) { group in
            for index in 0..<logins {
                let dn = dns[index % dns.count]
                group.addTask {
                    let begin = monotonicSeconds()
                    let reason = await verifier.verify(dn: dn, password: bench.userPassword)
                    return (monotonicSeconds() - begin, reason == nil)
                }
            }
            var latencies: [Double] = []
            latencies.reserveCapacity(logins)
            var failures = 0
            for await (latency, succeeded) in group {
                latencies.append(latency)
                if !succeeded { failures += 1 }
            }
            return (latencies, failures)
        }
        let seconds = monotonicSeconds() - start
        sampling.store(false, ordering: .relaxed)
        let open = verifier.counts.open
        await verifier.close()
        let threadsPeak = peakThreads.load(ordering: .relaxed)
        let rssPeak = procStatusMB("VmHWM")
        print(String(
            format: "bench logins n=%d concurrent=%d max_connections=%d logins_per_s=%.0f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f failures=%d threads_before=%d threads_peak=%d connections_open=%d rss_before_mb=%.1f rss_peak_mb=%.1f",
            logins, logins, maximum, Double(logins) / seconds, quantile(latencies, 0.5) * 1000, quantile(latencies, 0.99) * 1000,
            (latencies.max() ?? 0) * 1000, failures, threadsBefore, threadsPeak, open, rssBefore, rssPeak
        ))
        var missed: [String] = []
        if failures > 0 { missed.append("logins failures=\(failures)") }
        // One thread per connection, plus the sampler and slack for the runtime's own.
        if threadsPeak > threadsBefore + maximum + 4 { missed.append("logins threads_peak=\(threadsPeak)>\(threadsBefore + maximum + 4)") }
        return missed
    }
}

/// An integer field of /proc/self/status (e.g. Threads).
func procStatusInt(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return line.split(separator: "\t", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
    }
    return 0
}
