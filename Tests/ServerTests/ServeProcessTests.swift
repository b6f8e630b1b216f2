import Directory
import DirectoryServer
import Foundation
import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// The built `gwdir serve` as a process: it serves on a real socket, and SIGTERM writes the
/// deferred last logins before it exits 0.
@Suite struct ServeProcessTests {
    static let binary: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(), root.appendingPathComponent(".build/debug"),
        ]
        return candidates.map { $0.appendingPathComponent("gwdir") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// One HTTP/1.1 request over a fresh connection; nil when nothing listens yet.
    static func http(port: Int, _ method: String, _ path: String, body: String = "", key: String? = nil) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return nil }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        if let key { request += "X-API-Key: \(key)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            response += chunk[..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusText = text.split(separator: " ").dropFirst().first, let status = Int(statusText) else { return nil }
        let payload = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, payload)
    }

    @Test func sigtermFlushesDeferredLastLoginsAndExitsZero() async throws {
        let binary = try #require(Self.binary, "build the gwdir executable first (swift build)")
        // A slapd of its own: a real `gwdir serve` purges expired audit and IP-block entries
        // on its first record, which would pull other tests' back-dated state from under them.
        let fixture = try DirectoryFixture.start()
        defer { fixture.slapd.stop() }
        let world = try await PolicyWorld.make("serve-sigterm", fixture: fixture)
        defer { world.close() }
        let dn = try await world.addAccount("alice")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-serve-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("gwdir.pw")
        let keyFile = directory.appendingPathComponent("policy.key")
        try world.fixture.gwdirPassword.write(to: passwordFile, atomically: true, encoding: .utf8)
        try TestKey.value.write(to: keyFile, atomically: true, encoding: .utf8)
        let port = try SlapdInstance.freeLoopbackPort()
        let log = directory.appendingPathComponent("serve.log").path
        let pid = try ChildProcess.spawn(binary.path, [
            "serve", "--listen", "127.0.0.1:\(port)", "--uri", world.fixture.slapd.uri, "--base", world.fixture.baseDN,
            "--bind-dn", world.fixture.gwdirDN, "--password-file", passwordFile.path, "--policy-key-file", keyFile.path,
            "--log-level", "debug",
        ], output: .file(log))
        var exited = false
        defer { if !exited { kill(pid, SIGKILL); _ = ChildProcess.waitForExit(pid) } }
        var health: (status: Int, body: String)?
        for _ in 0..<300 where health == nil {
            health = Self.http(port: port, "GET", "/health")
            if health == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(health?.status == 200, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        func report(_ ip: String) -> Int? {
            Self.http(port: port, "POST", "/dovecot/policy?command=report",
                      body: policyBody(login: world.address("alice"), remote: ip, protocol: "imap", success: true, policyReject: false),
                      key: TestKey.value)?.status
        }
        #expect(report("127.0.0.21") == 200)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(report("127.0.0.22") == 200) // within the minute: deferred
        #expect(Self.http(port: port, "POST", "/dovecot/policy?command=report", body: "{}", key: "wrong")?.status == 401)
        let before = try await world.service.entry(try DistinguishedName(dn), attributes: ["gwLastLoginIP"])
        #expect(before?.string("gwLastLoginIP") == "127.0.0.21")

        kill(pid, SIGTERM)
        let status = ChildProcess.waitForExit(pid)
        exited = true
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        let after = try await world.service.entry(try DistinguishedName(dn), attributes: ["gwLastLoginIP"])
        #expect(after?.string("gwLastLoginIP") == "127.0.0.22", "\(output)")
        #expect(output.contains("missing or wrong X-API-Key"))
        #expect(output.contains("recorder drained"))
    }
}
