import Testing

import Directory

@Suite struct LoginTypeTests {
    @Test func stableCodes() {
        #expect(LoginType.allCases.map(\.rawValue) == [
            "pc", "pc_messenger", "mobile_web", "messenger_app", "office_app", "messenger_link",
            "imap", "pop3", "smtp",
        ])
    }

    @Test func labels() {
        #expect(LoginType.pcBrowser.label(for: .english) == "PC")
        #expect(LoginType.pcBrowser.label(for: .korean) == "PC")
        #expect(LoginType.mobileWeb.label(for: .korean) == "모바일 웹")
        #expect(LoginType.messengerApp.label(for: .korean) == "메신저 앱")
        #expect(LoginType.messengerApp.label(for: .english) == "Messenger app")
        #expect(Set(LoginType.allCases.map(\.koreanLabel)).count == LoginType.allCases.count)
        #expect(Set(LoginType.allCases.map(\.englishLabel)).count == LoginType.allCases.count)
    }

    @Test func mailProtocols() {
        #expect(LoginType.allCases.filter(\.isMailProtocol) == [.imap, .pop3, .smtp])
        #expect(MailProtocol.allCases.map(\.loginType) == [.imap, .pop3, .smtp])
        #expect(DeclaredClient.allCases.allSatisfy { !$0.loginType.isMailProtocol })
        #expect(DeclaredClient.allCases.allSatisfy { $0.rawValue == $0.loginType.rawValue })
    }
}

@Suite struct ClientDescriptionTests {
    struct Agent: Sendable, CustomTestStringConvertible {
        var name: String
        var userAgent: String
        var browser: Browser
        var mobile: Bool
        var testDescription: String { name }
    }

    static let agents: [Agent] = [
        Agent(
            name: "Chrome on Windows",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            browser: .chrome, mobile: false),
        Agent(
            name: "Chrome on macOS",
            userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            browser: .chrome, mobile: false),
        Agent(
            name: "Chrome on Linux",
            userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
            browser: .chrome, mobile: false),
        Agent(
            name: "Chrome on Android",
            userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            browser: .chrome, mobile: true),
        Agent(
            name: "Chrome on iPhone",
            userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
            browser: .chrome, mobile: true),
        Agent(
            name: "Edge on Windows",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            browser: .edge, mobile: false),
        Agent(
            name: "Legacy Edge",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045",
            browser: .edge, mobile: false),
        Agent(
            name: "Edge on Android",
            userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
            browser: .edge, mobile: true),
        Agent(
            name: "Edge on iPhone",
            userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/124.2478.50 Mobile/15E148 Safari/605.1.15",
            browser: .edge, mobile: true),
        Agent(
            name: "Firefox on Windows",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
            browser: .firefox, mobile: false),
        Agent(
            name: "Firefox on Android",
            userAgent: "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
            browser: .firefox, mobile: true),
        Agent(
            name: "Firefox on iPhone",
            userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
            browser: .firefox, mobile: true),
        Agent(
            name: "Safari on macOS",
            userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
            browser: .safari, mobile: false),
        Agent(
            name: "Safari on iPhone",
            userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
            browser: .safari, mobile: true),
        Agent(
            name: "Safari on iPad (iPadOS 12)",
            userAgent: "Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
            browser: .safari, mobile: true),
        Agent(
            name: "Samsung Internet",
            userAgent: "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
            browser: .samsungInternet, mobile: true),
        Agent(
            name: "Whale on Windows",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Whale/3.25.232.19 Safari/537.36",
            browser: .whale, mobile: false),
        Agent(
            name: "Whale on Android",
            userAgent: "Mozilla/5.0 (Linux; Android 12; SM-N976N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.117 Whale/3.24.223.22 Mobile Safari/537.36",
            browser: .whale, mobile: true),
        Agent(
            name: "Opera on Windows",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
            browser: .opera, mobile: false),
        Agent(
            name: "Opera on Android",
            userAgent: "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76349",
            browser: .opera, mobile: true),
        Agent(
            name: "Opera Presto",
            userAgent: "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18",
            browser: .opera, mobile: false),
        Agent(
            name: "Internet Explorer 11",
            userAgent: "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            browser: .internetExplorer, mobile: false),
        Agent(
            name: "Internet Explorer 9",
            userAgent: "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
            browser: .internetExplorer, mobile: false),
        Agent(
            name: "curl",
            userAgent: "curl/8.5.0",
            browser: .other, mobile: false),
    ]

    @Test(arguments: agents)
    func classifiesRealUserAgents(_ agent: Agent) {
        let client = ClientDescription(userAgent: agent.userAgent)
        #expect(client.browser == agent.browser)
        #expect(client.isMobile == agent.mobile)
        #expect(client.loginType == (agent.mobile ? .mobileWeb : .pcBrowser))
        #expect(client.clientCode == agent.browser.rawValue)
    }

    @Test func missingUserAgentIsAnUnknownPCBrowser() {
        for userAgent in [nil, ""] as [String?] {
            let client = ClientDescription(userAgent: userAgent)
            #expect(client.loginType == .pcBrowser)
            #expect(client.browser == .other)
            #expect(client.clientLabel(for: .english) == "Other browser")
        }
    }

    @Test func declaredClientsOverrideTheUserAgent() {
        let android = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
        for declared in DeclaredClient.allCases {
            let client = ClientDescription(userAgent: android, declared: declared)
            #expect(client.loginType == declared.loginType)
            #expect(client.browser == .chrome)
            #expect(client.clientCode == declared.rawValue)
        }
        let app = ClientDescription(userAgent: nil, declared: .messengerApp)
        #expect(app.browser == nil)
        #expect(app.clientLabel(for: .korean) == "메신저 앱")
    }

    @Test func mailProtocolClients() {
        let pop3 = ClientDescription(mailProtocol: .pop3)
        #expect(pop3.loginType == .pop3 && pop3.browser == nil && !pop3.isMobile)
        #expect(pop3.clientCode == "pop3")
        #expect(pop3.clientLabel(for: .english) == "POP3")
    }

    @Test func browserLabels() {
        let edge = ClientDescription(userAgent: Self.agents[5].userAgent)
        #expect(edge.clientLabel(for: .english) == "Edge")
        #expect(Browser.whale.label(for: .korean) == "네이버 웨일")
        #expect(Browser.samsungInternet.label(for: .english) == "Samsung Internet")
        #expect(Set(Browser.allCases.map(\.koreanLabel)).count == Browser.allCases.count)
    }
}
