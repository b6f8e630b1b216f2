import Directory
import Foundation
import Testing

@Suite struct NamesTests {
    @Test(arguments: ["a@b.co", "Alice.Kim@Acme.Example", "x_y-z@mail.acme-corp.kr"])
    func validAddresses(_ text: String) throws {
        let address = try MailAddress(text)
        #expect(address.description == text.lowercased())
    }

    @Test(arguments: ["", "a", "a@", "@b.co", "a@@b.co", "a b@c.co", "a+folder@b.co", ".a@b.co", "a..b@c.co", "a@b", "a@-b.co", "김@b.co"])
    func invalidAddresses(_ text: String) {
        #expect(throws: DirectoryError.self) { try MailAddress(text) }
        do { _ = try MailAddress(text) } catch let error as DirectoryError {
            #expect(error.code == .invalidArgument)
            #expect(!error.message.contains("\n"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func unitPaths() throws {
        #expect(try UnitPath("sales/east").components == ["sales", "east"])
        #expect(try UnitPath("/sales//east/").description == "sales/east")
        #expect(try UnitPath("영업부").name == "영업부")
        #expect(try UnitPath("sales/east").parent?.description == "sales")
        #expect(throws: DirectoryError.self) { try UnitPath("") }
        #expect(throws: DirectoryError.self) { try UnitPath("a,b") }
        #expect(throws: DirectoryError.self) { try UnitPath("a=b") }
    }

    @Test func entryNamesRefuseWhatWouldShiftTheACLDepth() {
        for bad in [",", "+", "\"", "\\", "<", ">", ";", "=", "/", "#"] {
            #expect(throws: DirectoryError.self, "\(bad)") { try EntryName.validate("a\(bad)b", what: "login id") }
        }
        #expect((try? EntryName.validate(" 서연 ", what: "login id")) == "서연")
        // Blanks as Foundation's .whitespaces: tabs and space separators (here U+3000), not newlines.
        #expect((try? EntryName.validate("\t\u{3000}영업 1팀\u{00A0}", what: "unit name")) == "영업 1팀")
        #expect(throws: DirectoryError.self) { try EntryName.validate(" \t ", what: "unit name") }
        #expect(throws: DirectoryError.self) { try EntryName.validate("a\n", what: "unit name") }
    }

    @Test func quotas() throws {
        #expect(try Quota.parse("10G") == 10 << 30)
        #expect(try Quota.parse("500m") == 500 << 20)
        #expect(try Quota.parse("1TB") == 1 << 40)
        #expect(try Quota.parse("1234") == 1234)
        #expect(throws: DirectoryError.self) { try Quota.parse("ten") }
        #expect(throws: DirectoryError.self) { try Quota.parse("-1G") }
        #expect(Quota.format(10 << 30) == "10G")
        #expect(Quota.format(1536 << 20) == "1.5G")
        #expect(Quota.format(0) == "0")
    }

    @Test func generalizedTime() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000)
        let text = GeneralizedTime.format(date)
        #expect(text == "20261118110640Z")
        #expect(GeneralizedTime.parse(text) == date)
        #expect(GeneralizedTime.parse("20261118110640.250Z") == date.addingTimeInterval(0.25))
        #expect(GeneralizedTime.parse("garbage") == nil)
    }

    @Test func layoutLocatesWorkspaceAndUnit() throws {
        let layout = try DirectoryLayout(base: "dc=example,dc=com")
        let unit = try layout.unit(UnitPath("sales/east"), workspace: "acme")
        #expect(unit.description == "ou=east,ou=sales,o=acme,ou=workspaces,dc=example,dc=com")
        let account = try unit.child(type: "uid", value: "서연")
        let location = try #require(layout.location(of: account))
        #expect(location.workspace == "acme")
        #expect(location.unit?.description == "sales/east")
        #expect(layout.location(of: layout.system) == nil)
        #expect(try layout.admins(workspace: "acme", unit: nil).description == "cn=admins,o=acme,ou=workspaces,dc=example,dc=com")
    }

    @Test func directoryErrorCodesAreDistinct() {
        #expect(Set(DirectoryError.Code.all.map(\.description)).count == DirectoryError.Code.all.count)
    }
}
