import LDAPClient

// Tests only. The library takes DNs only as parsed values; fixtures spell them as strings.
// A fixture string that does not parse is a bug in the test, so these trap.

extension String {
    /// The DN this fixture string spells.
    public var parsedDN: DistinguishedName {
        do { return try DistinguishedName(self) } catch { preconditionFailure("\(error)") }
    }

    /// The single RDN this fixture string spells.
    public var parsedRDN: RelativeDistinguishedName {
        let dn = parsedDN
        guard dn.rdns.count == 1, let rdn = dn.rdn else { preconditionFailure("\(self) is not one RDN") }
        return rdn
    }
}
