import Foundation
import TestSupport
import Testing

@testable import DirectoryServer

/// The policy body's JSON reader against Foundation's JSONSerialization: what it accepts,
/// JSONSerialization accepts with the same values; what JSONSerialization refuses, it refuses
/// (JSONSerialization is laxer in one way: it takes trailing commas).
@Suite struct PolicyJSONTests {
    static func ours(_ text: [UInt8]) -> [String: PolicyJSON.Value]? { try? PolicyJSON.object(text) }

    static func theirs(_ text: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text))) as? [String: Any]
    }

    @Test func readsWhatDovecotSends() throws {
        let body = #" {"login":"al\u00e9\"x\"@b.test","pwhash":"5d1f","remote":"127.0.0.1","device_id":"","protocol":"imap","session_id":"s1","success":true,"policy_reject":false,"tls":null,"n":-1.5e3,"o":{"a":[1,{"b":[]}]}} "#
        let members = try PolicyJSON.object(Array(body.utf8))
        #expect(members["login"] == .string("alé\"x\"@b.test"))
        #expect(members["success"] == .bool(true) && members["policy_reject"] == .bool(false) && members["tls"] == .null)
        #expect(members["n"] == .other && members["o"] == .other && members["a"] == nil)
        #expect(try PolicyJSON.object(Array(#"{"s":"\ud83d\ude00 \/ \b\f\n\r\t"}"#.utf8))["s"] == .string("😀 / \u{8}\u{c}\n\r\t"))
        #expect(try PolicyJSON.object(Array(#"{"k":1,"k":"last"}"#.utf8))["k"] == .string("last"))
    }

    @Test func refusesWhatIsNotOneJSONObject() {
        let bad = [
            "", " ", "[]", "\"x\"", "1", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1}x", "{\"a\":1}{}",
            "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}", "{\"a\":True}",
            "{\"a\":\"x\ny\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}", "{'a':1}", "{a:1}", "{\"a\":1 \"b\":2}", "{\"a\":\"unterminated}",
            String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40),
        ]
        for text in bad { #expect(Self.ours(Array(text.utf8)) == nil, "\(text)") }
        #expect(Self.ours([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) == nil, "invalid UTF-8 in a string")
    }

    /// Thousands of mutations of real bodies (seeded): both readers agree on every one that
    /// JSONSerialization decides as an object.
    @Test func agreesWithJSONSerializationOnMutatedBodies() {
        let seeds = [
            #"{"login":"alice@b.test","remote":"10.0.0.1","protocol":"imap","success":false,"policy_reject":false,"tls":true}"#,
            #"{"login":"\u00e9\ud83d\ude00\\\"","n":[1,2.5e-3,{"x":null}],"b":true}"#,
        ]
        var generator = SplitMix64(state: 0x6777_6469_72)
        let alphabet = Array(#"{}[]":,\/"-+.0123456789eEtrufalsn ubx"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        var decided = 0
        for round in 0..<6000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + Int(generator.next() % 3)) {
                let position = Int(generator.next() % UInt64(bytes.count + 1))
                let byte = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                switch generator.next() % 3 {
                case 0: bytes.insert(byte, at: position)
                case 1: if position < bytes.count { bytes[position] = byte }
                default: if position < bytes.count { bytes.remove(at: position) }
                }
            }
            let mine = Self.ours(bytes), foundation = Self.theirs(bytes)
            if mine != nil || foundation != nil { decided += 1 }
            guard let mine else {
                // JSONSerialization also takes a trailing comma (`[1,]`, `{"a":1,}`); RFC 8259 does not.
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(foundation == nil || text.contains(/,\s*[\]}]/), "refused, JSONSerialization read it: \(text)")
                continue
            }
            guard let foundation else {
                Issue.record("read, JSONSerialization refused it: \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            for (key, value) in mine {
                switch value {
                case .string(let text): #expect(foundation[key] as? String == text, "\(key) in \(String(decoding: bytes, as: UTF8.self))")
                case .bool(let flag): #expect((foundation[key] as? NSNumber)?.boolValue == flag)
                case .null: #expect(foundation[key] is NSNull)
                case .other: #expect(foundation[key] != nil)
                }
            }
            #expect(Set(mine.keys) == Set(foundation.keys))
        }
        #expect(decided > 500, "the mutations should leave enough valid objects to compare (\(decided))")
    }
}
