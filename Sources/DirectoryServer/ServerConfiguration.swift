import Directory
import Foundation

/// What `--policy-fail` chooses when the directory cannot answer an `allow`.
public enum PolicyFailMode: String, Sendable, CaseIterable {
    /// Allow (status 0) and log an error: mail keeps working while slapd is away; Dovecot's
    /// own passdb, which needs slapd too, still refuses what it must.
    case open
    /// Refuse (status -1).
    case closed
}

/// How `gwdir serve` listens and answers.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var policyKey: PolicyKey
    public var failMode: PolicyFailMode
    /// Peers whose `X-Forwarded-For` names the client (the `/api/v1` login API); the policy
    /// endpoint takes the client from Dovecot's `remote` instead.
    public var trustedProxies: AllowedNetworks
    /// Larger policy bodies are refused with 413: Dovecot's are a few hundred bytes.
    public var maxBodySize: Int

    public init(
        host: String = "127.0.0.1", port: Int = 8380, policyKey: PolicyKey, failMode: PolicyFailMode = .open,
        trustedProxies: AllowedNetworks = AllowedNetworks(), maxBodySize: Int = 64 * 1024
    ) {
        self.host = host
        self.port = port
        self.policyKey = policyKey
        self.failMode = failMode
        self.trustedProxies = trustedProxies
        self.maxBodySize = maxBodySize
    }

    /// `host:port`, `[v6]:port` or `:port` (all IPv4 interfaces).
    public static func parseListen(_ text: String) throws(DirectoryError) -> (host: String, port: Int) {
        let invalid = DirectoryError(.invalidArgument, "--listen \(text): expected host:port, e.g. 127.0.0.1:8380")
        guard let colon = text.lastIndex(of: ":") else { throw invalid }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw invalid }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        guard !host.contains(where: { $0.isWhitespace || $0 == "/" }) else { throw invalid }
        return (host, port)
    }

    /// The client of an API request: the socket peer, or the last `X-Forwarded-For` hop when
    /// the peer is a trusted proxy (the last hop is the one the proxy itself saw).
    public static func clientIP(peer: IPAddress?, forwardedFor: String?, trustedProxies: AllowedNetworks) -> IPAddress? {
        guard let peer, !trustedProxies.networks.isEmpty, trustedProxies.allows(peer), let forwardedFor,
              let last = forwardedFor.split(separator: ",").last.map({ $0.trimmingCharacters(in: .whitespaces) }),
              let forwarded = IPAddress(last)
        else { return peer }
        return forwarded
    }
}
