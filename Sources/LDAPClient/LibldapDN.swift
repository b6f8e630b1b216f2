import CLDAP

/// libldap's own DN parser and renderer, kept as an independent oracle for
/// ``DistinguishedName`` in tests: what we render, libldap must read back the same,
/// and what libldap renders, we must read back the same.
enum LibldapDN {
    /// libldap refused the DN (the code is its `LDAP_*` result code, usually
    /// `LDAP_DECODING_ERROR`), or the input contains NUL and cannot be a C string.
    struct Failure: Error, Equatable {
        var code: Int32
    }

    /// One attribute/value pair as libldap sees it. `value` is read by `bv_len`, never as a
    /// C string, since values may contain NUL; `isBinary` is `LDAP_AVA_BINARY` (`#hex` form).
    typealias Pair = (type: String, value: [UInt8], isBinary: Bool)

    /// Parses `string` with `ldap_str2dn(…, LDAP_DN_FORMAT_LDAPV3)`, RDNs most specific first.
    static func parse(_ string: String) throws(Failure) -> [[Pair]] {
        try self.withParsedDN(string) { dn in
            var rdns: [[Pair]] = []
            var rdnIndex = 0
            while let rdn = dn[rdnIndex] {
                var pairs: [Pair] = []
                var avaIndex = 0
                while let ava = rdn[avaIndex] {
                    pairs.append(
                        (
                            type: String(decoding: Self.bytes(ava.pointee.la_attr), as: UTF8.self),
                            value: Self.bytes(ava.pointee.la_value),
                            isBinary: ava.pointee.la_flags & UInt32(LDAP_AVA_BINARY) != 0
                        )
                    )
                    avaIndex += 1
                }
                rdns.append(pairs)
                rdnIndex += 1
            }
            return rdns
        }
    }

    /// Parses `string` with `ldap_str2dn` and renders it again with `ldap_dn2str`, both in
    /// LDAPv3 format (libldap hex-escapes all non-ASCII bytes when rendering).
    static func reformat(_ string: String) throws(Failure) -> String {
        let rendered: Result<String, Failure> = try self.withParsedDN(string) { dn in
            var output: UnsafeMutablePointer<CChar>? = nil
            let rc = ldap_dn2str(dn, &output, UInt32(LDAP_DN_FORMAT_LDAPV3))
            defer { ldap_memfree(output) }
            guard rc == LDAP_SUCCESS, let output else {
                return .failure(Failure(code: rc == LDAP_SUCCESS ? LDAP_OTHER : rc))
            }
            return .success(String(cString: output))
        }
        return try rendered.get()
    }

    /// Runs `body` on the parsed DN and frees it with `ldap_dnfree`. The root DN parses to
    /// a NULL `LDAPDN`, which is passed on as an empty (terminator-only) array.
    private static func withParsedDN<T>(_ string: String, _ body: (LDAPDN) -> T) throws(Failure) -> T {
        guard !string.utf8.contains(0) else { throw Failure(code: LDAP_PARAM_ERROR) }
        var dn: LDAPDN? = nil
        let rc = ldap_str2dn(string, &dn, UInt32(LDAP_DN_FORMAT_LDAPV3))
        guard rc == LDAP_SUCCESS else { throw Failure(code: rc) }
        guard let dn else {
            var terminator: LDAPRDN? = nil
            return withUnsafeMutablePointer(to: &terminator) { body($0) }
        }
        defer { ldap_dnfree(dn) }
        return body(dn)
    }

    private static func bytes(_ value: berval) -> [UInt8] {
        guard let base = value.bv_val, value.bv_len > 0 else { return [] }
        return base.withMemoryRebound(to: UInt8.self, capacity: Int(value.bv_len)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(value.bv_len)))
        }
    }
}
