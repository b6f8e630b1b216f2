import Crypto
import Directory
import Foundation

/// The shared secret Dovecot sends in `X-API-Key` (`auth_policy_server_api_header`).
public struct PolicyKey: Sendable {
    private let digest: [UInt8]

    /// Shorter keys are refused: `gwdir init` writes 64 hex characters.
    public static let minimumLength = 16

    public init(_ key: String) throws(DirectoryError) {
        let trimmed = key.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.utf8.count >= Self.minimumLength else {
            throw DirectoryError(.invalidArgument, "the policy key must have at least \(Self.minimumLength) characters")
        }
        digest = Array(SHA256.hash(data: Array(trimmed.utf8)))
    }

    /// The first line of a key file (as `gwdir init` writes it).
    public init(contentsOf url: URL) throws(DirectoryError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DirectoryError(.notFound, "cannot read the policy key file \(url.path): \(error.localizedDescription)")
        }
        let text = String(decoding: data, as: UTF8.self)
        try self.init(String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""))
    }

    /// Compares in constant time: both sides are hashed first, so neither the length nor the
    /// first differing byte of a guess shows in the timing.
    public func matches(_ presented: String?) -> Bool {
        guard let presented else { return false }
        let candidate = Array(SHA256.hash(data: Array(presented.trimmingBlanks().utf8)))
        var difference: UInt8 = 0
        for index in 0..<digest.count { difference |= digest[index] ^ candidate[index] }
        return difference == 0
    }

    /// 32 random bytes as hex, for `gwdir init`.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
