import Foundation
import TestSupport
import Testing

import Directory

@Suite struct TOTPTests {
    // RFC 6238 Appendix B seeds: the ASCII digits repeated to the hash's block-ish size.
    static let sha1Seed = Array("12345678901234567890".utf8)
    static let sha256Seed = Array("12345678901234567890123456789012".utf8)
    static let sha512Seed = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)

    struct Vector: Sendable, CustomTestStringConvertible {
        var time: TimeInterval
        var algorithm: OTPAlgorithm
        var code: String
        var testDescription: String { "\(algorithm.rawValue) @ \(Int64(time))" }
    }

    static let rfc6238Vectors: [Vector] = [
        Vector(time: 59, algorithm: .sha1, code: "94287082"),
        Vector(time: 59, algorithm: .sha256, code: "46119246"),
        Vector(time: 59, algorithm: .sha512, code: "90693936"),
        Vector(time: 1_111_111_109, algorithm: .sha1, code: "07081804"),
        Vector(time: 1_111_111_109, algorithm: .sha256, code: "68084774"),
        Vector(time: 1_111_111_109, algorithm: .sha512, code: "25091201"),
        Vector(time: 1_111_111_111, algorithm: .sha1, code: "14050471"),
        Vector(time: 1_111_111_111, algorithm: .sha256, code: "67062674"),
        Vector(time: 1_111_111_111, algorithm: .sha512, code: "99943326"),
        Vector(time: 1_234_567_890, algorithm: .sha1, code: "89005924"),
        Vector(time: 1_234_567_890, algorithm: .sha256, code: "91819424"),
        Vector(time: 1_234_567_890, algorithm: .sha512, code: "93441116"),
        Vector(time: 2_000_000_000, algorithm: .sha1, code: "69279037"),
        Vector(time: 2_000_000_000, algorithm: .sha256, code: "90698825"),
        Vector(time: 2_000_000_000, algorithm: .sha512, code: "38618901"),
        Vector(time: 20_000_000_000, algorithm: .sha1, code: "65353130"),
        Vector(time: 20_000_000_000, algorithm: .sha256, code: "77737706"),
        Vector(time: 20_000_000_000, algorithm: .sha512, code: "47863826"),
    ]

    static func seed(for algorithm: OTPAlgorithm) -> [UInt8] {
        switch algorithm {
        case .sha1: sha1Seed
        case .sha256: sha256Seed
        case .sha512: sha512Seed
        }
    }

    @Test(arguments: rfc6238Vectors)
    func rfc6238AppendixB(_ vector: Vector) {
        let totp = TOTP(secret: Self.seed(for: vector.algorithm), digits: 8, algorithm: vector.algorithm)
        let date = Date(timeIntervalSince1970: vector.time)
        #expect(totp.code(at: date) == vector.code)
        #expect(totp.verify(vector.code, at: date, lastAcceptedStep: nil) == .accepted(step: totp.step(at: date)))
    }

    @Test func rfc6238StepValues() {
        let totp = TOTP(secret: Self.sha1Seed)
        #expect(totp.step(at: Date(timeIntervalSince1970: 59)) == 1)
        #expect(totp.step(at: Date(timeIntervalSince1970: 1_111_111_109)) == 0x23523EC)
        #expect(totp.step(at: Date(timeIntervalSince1970: 1_111_111_111)) == 0x23523ED)
        #expect(totp.step(at: Date(timeIntervalSince1970: 20_000_000_000)) == 0x27BC86AA)
    }

    @Test(arguments: zip(0..<10, [
        "755224", "287082", "359152", "969429", "338314",
        "254676", "287922", "162583", "399871", "520489",
    ]))
    func rfc4226AppendixD(counter: Int, code: String) {
        let hotp = HOTP(secret: Self.sha1Seed)
        #expect(hotp.code(counter: UInt64(counter)) == code)
    }

    static let base = Date(timeIntervalSince1970: 1_700_000_010)  // 10 s into step 56666667

    @Test func acceptsOneStepEitherSide() {
        let totp = TOTP(secret: Self.sha1Seed)
        let current = totp.step(at: Self.base)
        for offset in [-1, 0, 1] {
            let step = current + Int64(offset)
            #expect(totp.verify(totp.code(step: step), at: Self.base, lastAcceptedStep: nil) == .accepted(step: step))
        }
    }

    @Test func rejectsTwoStepsAway() {
        let totp = TOTP(secret: Self.sha1Seed)
        let current = totp.step(at: Self.base)
        for offset in [-2, 2, -3, 3] {
            #expect(totp.verify(totp.code(step: current + Int64(offset)), at: Self.base, lastAcceptedStep: nil) == .mismatch)
        }
    }

    @Test func widerToleranceIsOptIn() {
        let totp = TOTP(secret: Self.sha1Seed)
        let current = totp.step(at: Self.base)
        let code = totp.code(step: current - 2)
        #expect(totp.verify(code, at: Self.base, lastAcceptedStep: nil, tolerance: 2) == .accepted(step: current - 2))
        #expect(totp.verify(totp.code(step: current + 1), at: Self.base, lastAcceptedStep: nil, tolerance: 0) == .mismatch)
    }

    @Test func aCodeIsAcceptedOnce() {
        let totp = TOTP(secret: Self.sha1Seed)
        let code = totp.code(at: Self.base)
        let first = totp.verify(code, at: Self.base, lastAcceptedStep: nil)
        let step = try! #require(first.acceptedStep)
        #expect(first.isAccepted)
        let second = totp.verify(code, at: Self.base.addingTimeInterval(5), lastAcceptedStep: step)
        #expect(second == .replayed(step: step))
        #expect(!second.isAccepted)
        #expect(second.acceptedStep == nil)
    }

    @Test func earlierStepsAreRejectedAfterALaterOne() {
        let totp = TOTP(secret: Self.sha1Seed)
        let current = totp.step(at: Self.base)
        // The user entered the next code (clock ahead); the current and previous codes are spent.
        #expect(totp.verify(totp.code(step: current), at: Self.base, lastAcceptedStep: current + 1) == .replayed(step: current))
        #expect(totp.verify(totp.code(step: current - 1), at: Self.base, lastAcceptedStep: current + 1) == .replayed(step: current - 1))
        // The step after the last accepted one is still fine.
        #expect(totp.verify(totp.code(step: current + 1), at: Self.base, lastAcceptedStep: current) == .accepted(step: current + 1))
    }

    @Test func malformedCodes() {
        let totp = TOTP(secret: Self.sha1Seed)
        for code in ["", "12345", "1234567", "12a456", "１２３４５６", "-12345", "123456\n"] {
            #expect(totp.verify(code, at: Self.base, lastAcceptedStep: nil) == .malformed, "\(code)")
        }
    }

    @Test func spacesInACodeAreIgnored() {
        let totp = TOTP(secret: Self.sha1Seed)
        let code = totp.code(at: Self.base)
        let spaced = String(code.prefix(3)) + " " + String(code.suffix(3))
        #expect(totp.verify(spaced, at: Self.base, lastAcceptedStep: nil).isAccepted)
    }

    @Test func nearTheEpochThereIsNoNegativeStep() {
        let totp = TOTP(secret: Self.sha1Seed)
        let date = Date(timeIntervalSince1970: 5)
        #expect(totp.verify(totp.code(step: 0), at: date, lastAcceptedStep: nil) == .accepted(step: 0))
        #expect(totp.verify(totp.code(step: 1), at: date, lastAcceptedStep: nil) == .accepted(step: 1))
    }

    @Test func defaultsAreSixDigitsThirtySecondsSHA1() {
        let totp = TOTP(secret: Self.sha1Seed)
        #expect(totp.digits == 6 && totp.period == 30 && totp.algorithm == .sha1)
        // RFC 6238 SHA1 vector truncated to 6 digits: 94287082 → 287082.
        #expect(totp.code(at: Date(timeIntervalSince1970: 59)) == "287082")
    }

    @Test func descriptionHidesTheSecret() {
        let totp = TOTP(secret: Self.sha1Seed)
        #expect(!totp.description.contains("49"))
        #expect(totp.description.contains("<20 bytes>"))
        #expect(HOTP(secret: Self.sha1Seed).description.contains("<20 bytes>"))
    }

    @Test func generatedSecretsAreTwentyRandomBytes() {
        let a = TOTP.generateSecret()
        let b = TOTP.generateSecret()
        #expect(a.count == 20 && b.count == 20)
        #expect(a != b)
        #expect(TOTP.generateSecret(byteCount: 32).count == 32)
    }

    @Test func seededGenerationIsDeterministic() {
        var g1 = SplitMix64(state: 42)
        var g2 = SplitMix64(state: 42)
        #expect(TOTP.generateSecret(using: &g1) == TOTP.generateSecret(using: &g2))
    }
}

@Suite struct OTPAuthURITests {
    static let secret = Array("12345678901234567890".utf8)

    @Test func shape() {
        let uri = TOTP(secret: Self.secret).provisioningURI(issuer: "Example", account: "alice@example.com")
        #expect(
            uri == "otpauth://totp/Example:alice%40example.com"
                + "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example&algorithm=SHA1&digits=6&period=30"
        )
    }

    @Test func parametersFollowTheConfiguration() {
        let uri = TOTP(secret: Self.secret, digits: 8, period: 60, algorithm: .sha512)
            .provisioningURI(issuer: "Acme", account: "bob")
        #expect(uri.hasSuffix("&algorithm=SHA512&digits=8&period=60"))
    }

    @Test func koreanNamesSurvivePercentEncoding() throws {
        let issuer = "다우 그룹웨어"
        let account = "홍길동@회사.kr"
        let uri = TOTP(secret: Self.secret).provisioningURI(issuer: issuer, account: account)
        // Only ASCII, and no raw separators inside the parts.
        #expect(uri.utf8.allSatisfy { $0 < 0x80 })
        #expect(!uri.contains(" ") && !uri.contains("+"))
        let afterScheme = try #require(uri.split(separator: "/").last)
        let labelAndQuery = afterScheme.split(separator: "?", maxSplits: 1)
        let labelParts = labelAndQuery[0].split(separator: ":")
        #expect(labelParts.count == 2)
        #expect(labelParts[0].removingPercentEncoding == issuer)
        #expect(labelParts[1].removingPercentEncoding == account)
        let query = Dictionary(
            uniqueKeysWithValues: labelAndQuery[1].split(separator: "&").map {
                let pair = $0.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            }
        )
        #expect(query["issuer"]?.removingPercentEncoding == issuer)
        #expect(query["secret"].flatMap(Base32.decode) == Self.secret)
    }

    @Test func colonsInNamesAreEscaped() {
        let uri = TOTP(secret: Self.secret).provisioningURI(issuer: "A:B", account: "c d")
        #expect(uri.hasPrefix("otpauth://totp/A%3AB:c%20d?"))
    }

    @Test func emptyIssuerIsLeftOut() {
        let uri = TOTP(secret: Self.secret).provisioningURI(issuer: "", account: "alice")
        #expect(uri.hasPrefix("otpauth://totp/alice?secret="))
        #expect(!uri.contains("issuer="))
    }
}

@Suite struct Base32Tests {
    // RFC 4648 §10.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="),
        ("foob", "MZXW6YQ="), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
    ]

    @Test func rfc4648Vectors() {
        for (plain, encoded) in Self.vectors {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(Base32.decode(encoded) == Array(plain.utf8))
            let unpadded = encoded.filter { $0 != "=" }
            #expect(Base32.encode(Array(plain.utf8), padding: false) == unpadded)
            #expect(Base32.decode(unpadded) == Array(plain.utf8))
        }
    }

    @Test func decodingIgnoresCaseAndWhitespace() {
        #expect(Base32.decode("mzxw6ytboi") == Array("foobar".utf8))
        #expect(Base32.decode("MzXw 6YtB oI") == Array("foobar".utf8))
        #expect(Base32.decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == Array("12345678901234567890".utf8))
    }

    @Test func invalidInputIsRefused() {
        for text in ["M", "MZX", "MZXW6Y", "MZ1Q", "MZ8Q", "MZ=Q", "MY=====", "MY=======", "========", "MZXQ====A", "éé"] {
            #expect(Base32.decode(text) == nil, "\(text)")
        }
    }

    @Test func roundTripsEveryLength() {
        var generator = SplitMix64(state: 7)
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
            #expect(Base32.decode(Base32.encode(bytes, padding: false)) == bytes)
            #expect(Base32.decode(Base32.encode(bytes).lowercased()) == bytes)
        }
        #expect(Base32.decode(Base32.encode([0xFF, 0x00, 0xFF, 0x00, 0xFF])) == [0xFF, 0x00, 0xFF, 0x00, 0xFF])
    }
}
