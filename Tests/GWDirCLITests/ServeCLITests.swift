import Foundation
import LocalSlapd
import Testing

/// `gwdir init` writes the policy key; `gwdir serve` with no flags serves the local directory
/// with it, and stops with exit 0 on SIGTERM.
@Suite struct ServeCLITests {
    @Test func serveUsesTheLocalDirectoryAndTheKeyInitWrote() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try cli.run(["local", "start"]).status == 0)
        let initialise = try cli.run(["init"])
        #expect(initialise.status == 0, "\(initialise.stderr)")
        let keyFile = cli.directory.appendingPathComponent(".gwdir/secrets/policy.key")
        #expect(try cli.mode(".gwdir/secrets/policy.key") == 0o600)
        let key = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit))
        #expect(try cli.run(["init"]).status == 0)
        #expect(try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .newlines) == key, "a second init keeps the key")

        let binary = try #require(CLI.binary)
        let port = try SlapdInstance.freeLoopbackPort()
        let log = cli.directory.appendingPathComponent("serve.log").path
        let pid = try ChildProcess.spawn(binary.path, ["serve", "--listen", "127.0.0.1:\(port)"], output: .file(log),
                                         workingDirectory: cli.directory.path)
        var exited = false
        defer { if !exited { kill(pid, SIGKILL); _ = ChildProcess.waitForExit(pid) } }
        var answered: Int?
        for _ in 0..<300 where answered == nil {
            answered = Self.status(port: port, "POST /dovecot/policy?command=allow", key: key,
                                   body: #"{"login":"nobody@example.com","protocol":"imap","remote":"127.0.0.1"}"#)
            if answered == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(answered == 200, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(Self.status(port: port, "POST /dovecot/policy?command=allow", key: String(key.reversed()), body: "{}") == 401)
        #expect(Self.status(port: port, "GET /health", key: nil, body: "") == 200)
        kill(pid, SIGTERM)
        let status = ChildProcess.waitForExit(pid)
        exited = true
        #expect(status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        // Without a key file: one clear line, exit 2.
        try FileManager.default.removeItem(at: keyFile)
        let noKey = try cli.run(["serve", "--listen", "127.0.0.1:\(port)"])
        #expect(noKey.status == 2)
        #expect(noKey.stderr.contains("policy key"), "\(noKey.stderr)")
        #expect(try cli.run(["local", "stop"]).status == 0)
    }

    /// The status code of one HTTP/1.1 request; nil while nothing listens.
    static func status(port: Int, _ requestLine: String, key: String?, body: String) -> Int? {
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
        var request = "\(requestLine) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
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
        return String(decoding: response, as: UTF8.self).split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
}
