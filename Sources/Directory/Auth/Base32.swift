/// RFC 4648 §6 Base32, the encoding authenticator apps use for TOTP secrets.
///
/// Decoding is lenient where people are involved (any letter case, whitespace, optional
/// padding) and strict about everything else, so a mistyped secret is refused rather than
/// silently turned into different key bytes.
public enum Base32: Sendable {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Encodes `bytes`; `padding: false` is the form `otpauth://` URIs carry.
    public static func encode(_ bytes: some Collection<UInt8>, padding: Bool = true) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 4) / 5 * 8)
        var buffer: UInt64 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt64(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int((buffer >> UInt64(bits)) & 0x1F)])
            }
        }
        if bits > 0 {
            output.append(alphabet[Int((buffer << UInt64(5 - bits)) & 0x1F)])
        }
        if padding {
            while output.count % 8 != 0 { output.append(UInt8(ascii: "=")) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes Base32 text, or returns nil for characters outside the alphabet, a length no
    /// encoder produces (1, 3 or 6 symbols in the last group) or malformed padding.
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols: [UInt8] = []
        var paddingCount = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "="):
                paddingCount += 1
            default:
                // Data after padding is not Base32.
                guard paddingCount == 0, let value = value(of: byte) else { return nil }
                symbols.append(value)
            }
        }
        let remainder = symbols.count % 8
        guard [0, 2, 4, 5, 7].contains(remainder) else { return nil }
        if paddingCount > 0 {
            guard remainder != 0, (symbols.count + paddingCount) % 8 == 0, paddingCount < 8 else { return nil }
        }

        var output: [UInt8] = []
        output.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt64 = 0
        var bits = 0
        for symbol in symbols {
            buffer = (buffer << 5) | UInt64(symbol)
            bits += 5
            if bits >= 8 {
                bits -= 8
                output.append(UInt8((buffer >> UInt64(bits)) & 0xFF))
            }
        }
        return output
    }

    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): byte - UInt8(ascii: "2") + 26
        default: nil
        }
    }
}
