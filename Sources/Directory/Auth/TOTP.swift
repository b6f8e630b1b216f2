import Crypto
import Foundation

/// The HMAC hash behind an HOTP/TOTP code; the raw value is the `algorithm=` spelling of
/// `otpauth://` URIs.
public enum OTPAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha1 = "SHA1"
    case sha256 = "SHA256"
    case sha512 = "SHA512"

    func authenticationCode(for message: [UInt8], key: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }
}

/// RFC 4226 counter-based one-time passwords, the primitive TOTP is built on.
///
/// Not `Equatable`, and `description` hides the secret, so a key never ends up in a log line
/// or in a non-constant-time comparison by accident.
public struct HOTP: Sendable, CustomStringConvertible {
    public var secret: [UInt8]
    /// 6 to 8: RFC 4226 requires at least 6, and authenticator apps show at most 8.
    public var digits: Int
    public var algorithm: OTPAlgorithm

    public init(secret: [UInt8], digits: Int = 6, algorithm: OTPAlgorithm = .sha1) {
        precondition((6...8).contains(digits), "OTP codes have 6 to 8 digits")
        self.secret = secret
        self.digits = digits
        self.algorithm = algorithm
    }

    /// The code for `counter`, zero-padded to `digits` (RFC 4226 §5.3 dynamic truncation).
    public func code(counter: UInt64) -> String {
        let message = withUnsafeBytes(of: counter.bigEndian) { Array($0) }
        let mac = algorithm.authenticationCode(for: message, key: secret)
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            UInt32(mac[offset] & 0x7F) << 24
            | UInt32(mac[offset + 1]) << 16
            | UInt32(mac[offset + 2]) << 8
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    public var description: String {
        "HOTP(algorithm: \(algorithm.rawValue), digits: \(digits), secret: <\(secret.count) bytes>)"
    }
}

/// The outcome of checking a TOTP code.
public enum TOTPVerification: Sendable, Hashable {
    /// The code matched `step`; the caller stores it as the account's last accepted step so
    /// the same code (and any earlier one) is refused from now on.
    case accepted(step: Int64)
    /// The code matched a step at or before the last accepted one: a replay.
    case replayed(step: Int64)
    /// Well-formed, but no step in the window produces it.
    case mismatch
    /// Not `digits` decimal digits.
    case malformed

    public var isAccepted: Bool { acceptedStep != nil }

    /// The step to persist, when accepted.
    public var acceptedStep: Int64? {
        if case .accepted(let step) = self { return step }
        return nil
    }
}

/// RFC 6238 time-based one-time passwords: enrolment (secret, `otpauth://` URI) and
/// verification with ±1 step of clock drift where each code is accepted once.
public struct TOTP: Sendable, CustomStringConvertible {
    /// RFC 4226 §4 recommends 160-bit secrets, the HMAC-SHA1 block it was designed for.
    public static let defaultSecretByteCount = 20

    public var secret: [UInt8]
    public var digits: Int
    /// Seconds per step.
    public var period: Int
    public var algorithm: OTPAlgorithm

    public init(secret: [UInt8], digits: Int = 6, period: Int = 30, algorithm: OTPAlgorithm = .sha1) {
        precondition((6...8).contains(digits), "OTP codes have 6 to 8 digits")
        precondition(period > 0, "the TOTP period must be positive")
        self.secret = secret
        self.digits = digits
        self.period = period
        self.algorithm = algorithm
    }

    /// The step (RFC 6238 `T`) that `date` falls in: whole periods since the Unix epoch.
    public func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down))
    }

    public func code(at date: Date) -> String {
        code(step: step(at: date))
    }

    public func code(step: Int64) -> String {
        precondition(step >= 0, "TOTP is not defined before the Unix epoch")
        return HOTP(secret: secret, digits: digits, algorithm: algorithm).code(counter: UInt64(step))
    }

    /// Checks `code` against the steps within `tolerance` of `date` (±1 by default: RFC 6238
    /// §5.2's one step of network delay and clock drift).
    ///
    /// A step at or before `lastAcceptedStep` is never accepted, so a code works once and a
    /// code older than the last one used does not work at all. Candidates are compared in the
    /// order current, −1, +1, −2, … and every candidate is computed and compared in constant
    /// time, so the timing does not tell which step matched.
    public func verify(
        _ code: String,
        at date: Date,
        lastAcceptedStep: Int64?,
        tolerance: Int = 1
    ) -> TOTPVerification {
        precondition(tolerance >= 0, "the tolerance is a number of steps either side")
        // People paste codes shown as "123 456".
        let candidate = Array(code.utf8.filter { $0 != UInt8(ascii: " ") })
        guard candidate.count == digits, candidate.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return .malformed
        }
        let current = step(at: date)
        var offsets = [0]
        if tolerance > 0 {
            for distance in 1...tolerance { offsets += [-distance, distance] }
        }
        var accepted: Int64?
        var replayed: Int64?
        for offset in offsets {
            let step = current + Int64(offset)
            guard step >= 0 else { continue }
            guard Self.constantTimeEqual(Array(self.code(step: step).utf8), candidate) else { continue }
            if let last = lastAcceptedStep, step <= last {
                if replayed == nil { replayed = step }
            } else if accepted == nil {
                accepted = step
            }
        }
        if let accepted { return .accepted(step: accepted) }
        if let replayed { return .replayed(step: replayed) }
        return .mismatch
    }

    /// A new random secret from the system's cryptographically secure generator.
    public static func generateSecret(byteCount: Int = defaultSecretByteCount) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return generateSecret(byteCount: byteCount, using: &generator)
    }

    /// A new secret from `generator`; tests pass a seeded one, production the system one.
    public static func generateSecret<G: RandomNumberGenerator>(
        byteCount: Int = defaultSecretByteCount,
        using generator: inout G
    ) -> [UInt8] {
        precondition(byteCount > 0)
        return (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The Base32 secret as authenticator apps take it for manual entry (no padding).
    public var base32Secret: String { Base32.encode(secret, padding: false) }

    /// The enrolment URI (Google Authenticator "Key Uri Format"):
    /// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
    ///
    /// Label parts and values are percent-encoded as UTF-8 with everything but RFC 3986
    /// unreserved characters escaped, so Korean names, spaces (`%20`, never `+`), `:` inside a
    /// name and `@` in an address survive every app. An empty issuer is left out.
    public func provisioningURI(issuer: String, account: String) -> String {
        let label = issuer.isEmpty ? percentEncode(account) : percentEncode(issuer) + ":" + percentEncode(account)
        var query = ["secret=" + base32Secret]
        if !issuer.isEmpty { query.append("issuer=" + percentEncode(issuer)) }
        query += [
            "algorithm=" + algorithm.rawValue,
            "digits=\(digits)",
            "period=\(period)",
        ]
        return "otpauth://totp/" + label + "?" + query.joined(separator: "&")
    }

    public var description: String {
        "TOTP(algorithm: \(algorithm.rawValue), digits: \(digits), period: \(period), secret: <\(secret.count) bytes>)"
    }

    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// Percent-encodes UTF-8 bytes outside RFC 3986's unreserved set (ALPHA DIGIT - . _ ~).
func percentEncode(_ string: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var output: [UInt8] = []
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"):
            output.append(byte)
        default:
            output += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: output, as: UTF8.self)
}
