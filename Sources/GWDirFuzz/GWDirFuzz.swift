// libFuzzer targets over the parsers and escapers that see untrusted text: DNs (RFC 4514),
// filter values and attribute names (RFC 4515), and LDIF. Built only by scripts/fuzz.sh
// (`swift build --sanitize=fuzzer --sanitize=address`), which picks the target with
// GWDIR_FUZZ_TARGET; libFuzzer supplies `main`. A broken invariant stops the process, which
// libFuzzer reports as a crash with the input that caused it.
import Directory
import LDAPClient
#if canImport(Glibc)
import Glibc
#endif

let fuzzTarget = getenv("GWDIR_FUZZ_TARGET").map { String(cString: $0) } ?? "dn"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch fuzzTarget {
    case "dn": FuzzDN.run(bytes)
    case "filter": FuzzFilter.run(bytes)
    case "ldif": FuzzLDIF.run(bytes)
    default: fatalError("GWDIR_FUZZ_TARGET must be dn, filter or ldif, not \(fuzzTarget)")
    }
    return 0
}

/// Splits an input at its first NUL: two fields from one byte string.
func fields(_ bytes: [UInt8]) -> ([UInt8], [UInt8]) {
    guard let split = bytes.firstIndex(of: 0) else { return (bytes, []) }
    return (Array(bytes[..<split]), Array(bytes[(split + 1)...]))
}

enum FuzzDN {
    static func run(_ bytes: [UInt8]) {
        // Any text: parsing either fails with DistinguishedNameError or gives a DN whose
        // rendering parses back to the same DN.
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let dn = try DistinguishedName(text)
            let again = try DistinguishedName(dn.description)
            guard again == dn else { fatalError("DN round trip changed \(dn) into \(again)") }
        } catch is DistinguishedNameError {
            // Expected: most inputs are not DNs.
        } catch {
            fatalError("unexpected error \(error)")
        }
        // Any value octets under a fuzzed type: escaped, they come back unchanged.
        let (type, value) = fields(bytes)
        do {
            let pair = try AttributeTypeAndValue(type: String(decoding: type, as: UTF8.self), bytes: value)
            let dn = DistinguishedName(rdns: [try RelativeDistinguishedName([pair])])
            let parsed = try DistinguishedName(dn.description)
            guard parsed.rdns.first?.attributes.first?.value == value else {
                fatalError("value \(value) rendered as \(dn.description) parsed back differently")
            }
        } catch is DistinguishedNameError {
            // An invalid type or an empty value.
        } catch {
            fatalError("unexpected error \(error)")
        }
    }
}

enum FuzzFilter {
    static func run(_ bytes: [UInt8]) {
        let (name, rest) = fields(bytes)
        let value = String(decoding: rest, as: UTF8.self)
        let attribute: LDAPFilter.AttributeDescription
        do {
            attribute = try LDAPFilter.AttributeDescription(String(decoding: name, as: UTF8.self))
        } catch is LDAPFilterError {
            return
        } catch {
            fatalError("unexpected error \(error)")
        }
        for filter in [LDAPFilter.equal(attribute, value), .contains(attribute, value),
                       .and([.equal(attribute, value), .not(.prefix(attribute, value))])] {
            check(filter.description, value: value)
        }
    }

    /// A filter's string has balanced parentheses, and no `*`, `(`, `)`, `\` or NUL of the
    /// value survives unescaped: the value cannot change the filter's structure.
    static func check(_ rendered: String, value: String) {
        var depth = 0
        var bytes = Array(rendered.utf8)[...]
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                guard depth >= 0 else { fatalError("unbalanced filter \(rendered) for value \(value.debugDescription)") }
            case UInt8(ascii: "\\"):
                guard bytes.count >= 2, bytes.prefix(2).allSatisfy(\.isHexDigit) else {
                    fatalError("bad escape in \(rendered) for value \(value.debugDescription)")
                }
                bytes = bytes.dropFirst(2)
            case 0: fatalError("NUL in filter \(rendered.debugDescription)")
            default: break
            }
        }
        guard depth == 0 else { fatalError("unbalanced filter \(rendered) for value \(value.debugDescription)") }
    }
}

extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

enum FuzzLDIF {
    static func run(_ bytes: [UInt8]) {
        // Parsing must end, without a trap, in records or an LDIFError (its only error: typed throws).
        do {
            _ = try LDIF.parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            // A rejected input.
        }
    }
}

#if !GWDIR_FUZZING
/// Without libFuzzer (an ordinary `swift build`): runs the target over the files given, so a
/// crash input from `.build-fuzz/artifacts/` can be replayed under a debugger.
@main enum ReplayInputs {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { fatalError("cannot open \(path)") }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while case let count = fread(&buffer, 1, buffer.count, file), count > 0 { bytes += buffer[..<count] }
            fclose(file)
            _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
            print("\(path): ok")
        }
    }
}
#endif
