import Directory
import Foundation

/// The two commands of Dovecot's auth-policy protocol (`?command=`).
public enum PolicyCommand: String, Sendable, CaseIterable {
    /// Before authentication: may refuse (status < 0) or delay (status > 0).
    case allow
    /// After authentication, with the result: Dovecot ignores the answer.
    case report
}

/// One request body of Dovecot 2.3's auth policy, decoded and validated.
///
/// Dovecot builds the body from `auth_policy_request_attributes` (every value a JSON string)
/// and adds `tls`, and for `report` `success` and `policy_reject` (booleans), see
/// dovecot/core src/auth/auth-policy.c. Only `login`, `remote` and `protocol` are read; other
/// attributes (`pwhash`, `session_id`, `device_id`, …) are accepted and ignored.
public struct PolicyRequest: Sendable, Hashable {
    public var command: PolicyCommand
    public var login: String
    /// nil when Dovecot does not know the client (`remote` empty, e.g. `doveadm auth test`).
    public var ip: IPAddress?
    /// Dovecot's service name as sent (`imap`, `pop3`, `smtp`, `submission`, …).
    public var service: String
    public var success: Bool?
    public var policyRejected: Bool?
    public var tls: Bool?

    public var attempt: MailLoginAttempt {
        MailLoginAttempt(login: login, ip: ip, mailProtocol: MailLoginRules.mailProtocol(dovecotService: service))
    }

    /// A request refused as bad input: the HTTP status and a one-line cause for the log.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var status: Int
        public var cause: String
        public var description: String { cause }

        public init(status: Int = 400, _ cause: String) {
            self.status = status
            self.cause = cause
        }
    }

    /// Longest `login` accepted: an address is at most 254 octets (RFC 5321), with room for
    /// Dovecot's master-user separator.
    public static let maxLoginLength = 512

    /// Decodes a body. Throws ``Invalid`` for anything Dovecot would not send: malformed
    /// JSON, a missing or mistyped field, an invalid address in `remote`, control characters
    /// or an over-long `login`.
    public static func decode(command: String?, body: [UInt8]) throws(Invalid) -> PolicyRequest {
        guard let command else { throw Invalid("no command (expected ?command=allow or ?command=report)") }
        guard let parsed = PolicyCommand(rawValue: command) else { throw Invalid("unknown command \"\(command.prefix(40))\"") }
        let members: [String: PolicyJSON.Value]
        do {
            members = try PolicyJSON.object(body)
        } catch {
            throw Invalid("malformed JSON (expected an object)")
        }
        func string(_ key: String) throws(Invalid) -> String? {
            switch members[key] {
            case nil, .null: return nil
            case .string(let value): return value
            default: throw Invalid("field \(key) has the wrong type")
            }
        }
        func bool(_ key: String) throws(Invalid) -> Bool? {
            switch members[key] {
            case nil, .null: return nil
            case .bool(let value): return value
            default: throw Invalid("field \(key) has the wrong type")
            }
        }
        // Every field's type is checked, also where the command does not need it.
        let login = try string("login"), remote = try string("remote"), service = try string("protocol")
        let success = try bool("success"), rejected = try bool("policy_reject"), tls = try bool("tls")
        guard let login else { throw Invalid("missing field login") }
        guard !login.isEmpty else { throw Invalid("empty login") }
        guard login.utf8.count <= maxLoginLength else { throw Invalid("login longer than \(maxLoginLength) bytes") }
        // Printable ASCII (Dovecot's usual login) needs no look-up in the Unicode tables.
        let printableASCII = login.utf8.allSatisfy { (0x20..<0x7F).contains($0) }
        guard printableASCII || !login.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid("control characters in login")
        }
        guard let service else { throw Invalid("missing field protocol") }
        guard !service.isEmpty, service.utf8.count <= 32,
              service.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") })
        else { throw Invalid("invalid protocol") }
        var ip: IPAddress?
        if let remote, !remote.isEmpty {
            guard let address = IPAddress(remote) else { throw Invalid("remote is not an IP address") }
            ip = address
        }
        var request = PolicyRequest(command: parsed, login: login, ip: ip, service: service.lowercased(), tls: tls)
        if parsed == .report {
            guard let success else { throw Invalid("missing field success") }
            guard let rejected else { throw Invalid("missing field policy_reject") }
            request.success = success
            request.policyRejected = rejected
        }
        return request
    }

    public init(command: PolicyCommand, login: String, ip: IPAddress?, service: String, success: Bool? = nil, policyRejected: Bool? = nil, tls: Bool? = nil) {
        self.command = command
        self.login = login
        self.ip = ip
        self.service = service
        self.success = success
        self.policyRejected = policyRejected
        self.tls = tls
    }
}

/// Dovecot's answer: status < 0 refuses, > 0 delays by that many seconds, 0 allows.
public struct PolicyAnswer: Sendable, Hashable {
    public var status: Int
    public var message: String

    public static let allowed = PolicyAnswer(status: 0, message: "")

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public static func refused(_ reason: LoginFailureReason) -> PolicyAnswer {
        PolicyAnswer(status: -1, message: reason.englishLabel)
    }

    /// `{"msg":"…","status":N}`, the only shape Dovecot parses (it reads just these two keys).
    /// Written by hand (every report is answered with it; JSONEncoder showed in the profile):
    /// `"`, `\` and control characters escaped as JSON requires, everything else as is.
    public var json: String {
        if self == .allowed { return Self.allowedJSON }
        var text = #"{"msg":""#
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": text += #"\""#
            case "\\": text += #"\\"#
            case "\n": text += #"\n"#
            case "\r": text += #"\r"#
            case "\t": text += #"\t"#
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + #"","status":\#(status)}"#
    }

    private static let allowedJSON = #"{"msg":"","status":0}"#
}
