import Directory
import DirectoryServer
import Foundation
import Testing

/// Decoding Dovecot's request bodies, the key check and the flags' parsing: no server.
@Suite struct PolicyRequestTests {
    func decode(_ command: String?, _ json: String) throws(PolicyRequest.Invalid) -> PolicyRequest {
        try PolicyRequest.decode(command: command, body: Array(json.utf8))
    }

    func refusal(_ command: String?, _ json: String) -> PolicyRequest.Invalid? {
        do {
            _ = try decode(command, json)
            return nil
        } catch {
            return error
        }
    }

    /// As Dovecot 2.3 builds it from the docker/dovecot attributes (every value a string).
    static let allowBody = #"{"device_id":"","fail_type":"","login":"alice@acme.test","protocol":"imap","pwhash":"1a2b","remote":"127.0.0.9","session_id":"abc","tls":false}"#
    static let reportBody = #"{"login":"alice@acme.test","protocol":"pop3","pwhash":"","remote":"::1","session_id":"x","success":false,"policy_reject":true,"tls":true}"#

    @Test func decodesDovecotsBodies() throws {
        let allow = try decode("allow", Self.allowBody)
        #expect(allow.command == .allow)
        #expect(allow.login == "alice@acme.test")
        #expect(allow.ip == IPAddress("127.0.0.9"))
        #expect(allow.attempt.mailProtocol == .imap)
        #expect(allow.success == nil)
        let report = try decode("report", Self.reportBody)
        #expect(report.success == false)
        #expect(report.policyRejected == true)
        #expect(report.tls == true)
        #expect(report.ip == IPAddress("::1"))
        #expect(report.attempt.mailProtocol == .pop3)
        // doveadm auth test without a client address: remote is empty, not invalid.
        let local = try decode("allow", #"{"login":"a@b.test","protocol":"submission","remote":""}"#)
        #expect(local.ip == nil)
        #expect(local.attempt.mailProtocol == .smtp)
        // Korean and other non-ASCII logins are data, not control characters.
        #expect(try decode("allow", #"{"login":"민준@acme.test","protocol":"imap","remote":"127.0.0.1"}"#).login == "민준@acme.test")
    }

    @Test func refusesBadInput() {
        #expect(refusal(nil, Self.allowBody)?.status == 400)
        #expect(refusal("delete", Self.allowBody)?.status == 400)
        #expect(refusal("allow", "{") != nil)
        #expect(refusal("allow", "") != nil)
        #expect(refusal("allow", "[1,2]") != nil)
        #expect(refusal("allow", #""login""#) != nil)
        #expect(refusal("allow", #"{"protocol":"imap","remote":"127.0.0.1"}"#)?.cause == "missing field login")
        #expect(refusal("allow", #"{"login":"a@b.test","remote":"127.0.0.1"}"#)?.cause == "missing field protocol")
        #expect(refusal("allow", #"{"login":"","protocol":"imap"}"#)?.cause == "empty login")
        #expect(refusal("allow", #"{"login":42,"protocol":"imap"}"#)?.cause.contains("wrong type") == true)
        #expect(refusal("allow", #"{"login":"a@b.test","protocol":"imap","remote":"999.1.1.1"}"#)?.cause == "remote is not an IP address")
        #expect(refusal("allow", #"{"login":"a@b.test","protocol":"imap","remote":"127.0.0.1; rm"}"#)?.cause == "remote is not an IP address")
        #expect(refusal("allow", #"{"login":"a\nb@b.test","protocol":"imap"}"#)?.cause == "control characters in login")
        #expect(refusal("allow", #"{"login":"a\u0000b@b.test","protocol":"imap"}"#)?.cause == "control characters in login")
        #expect(refusal("allow", #"{"login":"a\u007fb@b.test","protocol":"imap"}"#)?.cause == "control characters in login")
        #expect(refusal("allow", #"{"login":"\#(String(repeating: "a", count: 600))","protocol":"imap"}"#) != nil)
        #expect(refusal("allow", #"{"login":"a@b.test","protocol":"im ap"}"#)?.cause == "invalid protocol")
        #expect(refusal("report", #"{"login":"a@b.test","protocol":"imap","policy_reject":false}"#)?.cause == "missing field success")
        #expect(refusal("report", #"{"login":"a@b.test","protocol":"imap","success":true}"#)?.cause == "missing field policy_reject")
        #expect(refusal("report", #"{"login":"a@b.test","protocol":"imap","success":"true","policy_reject":false}"#)?.cause.contains("wrong type") == true)
    }

    @Test func answersInDovecotsShape() throws {
        #expect(PolicyAnswer.allowed.json == #"{"msg":"","status":0}"#)
        #expect(PolicyAnswer.refused(.ipNotAllowed).json == #"{"msg":"IP address not allowed","status":-1}"#)
        // Hand-written JSON: every label, and text with quotes, backslashes, controls, slashes
        // and non-ASCII, reads back as sent through a real JSON parser.
        let messages = LoginFailureReason.allCases.map(\.englishLabel) + ["say \"no\"", #"a\b"#, "tab\tnew\nline\r\u{1}\u{1f}", "a/b", "영업부 ✓", ""]
        for (index, message) in messages.enumerated() {
            let answer = PolicyAnswer(status: index - 3, message: message)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any], "\(answer.json)")
            #expect(object["msg"] as? String == message && object["status"] as? Int == index - 3, "\(answer.json)")
            #expect(!answer.json.unicodeScalars.contains { $0.value < 0x20 }, "no raw control characters")
        }
    }

    @Test func blanksAreTrimmedAsFoundationDoes() {
        for text in ["", " ", "a", " a", "a ", "\ta b\t", "\u{3000}영업\u{3000}", "\u{a0}x\u{a0}", "\nx\n", " \u{2003} ", "x y"] {
            #expect(text.trimmingBlanks() == text.trimmingCharacters(in: .whitespaces), "\(Array(text.unicodeScalars))")
        }
    }

    @Test func theKeyMatchesOnlyItself() throws {
        let key = try PolicyKey("0123456789abcdef0123456789abcdef")
        #expect(key.matches("0123456789abcdef0123456789abcdef"))
        // Dovecot sends "X-API-Key: <key>" with the space after the colon.
        #expect(key.matches(" 0123456789abcdef0123456789abcdef"))
        #expect(!key.matches("0123456789abcdef0123456789abcdee"))
        #expect(!key.matches("0123456789abcdef0123456789abcdef0"))
        #expect(!key.matches(""))
        #expect(!key.matches(nil))
        #expect(throws: DirectoryError.self) { try PolicyKey("short") }
        #expect(PolicyKey.generate().count == 64)
        #expect(PolicyKey.generate() != PolicyKey.generate())
    }

    @Test func parsesListenAndProxies() throws {
        #expect(try ServerConfiguration.parseListen("127.0.0.1:8380") == ("127.0.0.1", 8380))
        #expect(try ServerConfiguration.parseListen("[::1]:0") == ("::1", 0))
        #expect(try ServerConfiguration.parseListen(":8080") == ("0.0.0.0", 8080))
        #expect(throws: DirectoryError.self) { try ServerConfiguration.parseListen("8380") }
        #expect(throws: DirectoryError.self) { try ServerConfiguration.parseListen("host:99999") }
        let proxies = try AllowedNetworks(parsing: ["10.0.0.0/8"])
        let peer = IPAddress("10.1.2.3")
        #expect(ServerConfiguration.clientIP(peer: peer, forwardedFor: "203.0.113.9, 198.51.100.7", trustedProxies: proxies) == IPAddress("198.51.100.7"))
        #expect(ServerConfiguration.clientIP(peer: IPAddress("192.0.2.1"), forwardedFor: "198.51.100.7", trustedProxies: proxies) == IPAddress("192.0.2.1"))
        #expect(ServerConfiguration.clientIP(peer: peer, forwardedFor: "junk", trustedProxies: proxies) == peer)
        #expect(ServerConfiguration.clientIP(peer: peer, forwardedFor: "198.51.100.7", trustedProxies: AllowedNetworks()) == peer)
    }
}
