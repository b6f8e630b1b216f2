import Testing
@testable import LDAPClient

/// Every transition of a connection's lifecycle, driven as a value (no slapd, no thread).
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    static let lost = LDAPError(code: .serverDown, message: "the connection to the server was lost", operation: .connect)
    static let refused = LDAPError(code: .connectError, operation: .connect)

    /// idle → connecting → binding → ready.
    static func ready() -> Machine {
        var machine = Machine()
        _ = machine.connectRequested()
        machine.bindStarted()
        _ = machine.connected()
        return machine
    }

    @Test func connectsAndBinds() {
        var machine = Machine()
        #expect(machine.state == .idle)
        do { let result = machine.connectRequested(); #expect(result == .connect) }
        #expect(machine.state == .connecting(closeRequested: false))
        machine.bindStarted()
        #expect(machine.state == .binding(closeRequested: false))
        do { let result = machine.connected(); #expect(result == .proceed) }
        #expect(machine.state == .ready)
    }

    @Test func aFailedConnectFailsTheRestOfTheTurnThenRetries() {
        var machine = Machine()
        _ = machine.connectRequested()
        machine.connectFailed(Self.refused)
        #expect(machine.state == .failed(Self.refused))
        // The turn's other requests fail with the same error, without connecting again.
        do { let result = machine.connectRequested(); #expect(result == .fail(Self.refused)) }
        machine.turnBegan()
        #expect(machine.state == .reconnecting)
        do { let result = machine.connectRequested(); #expect(result == .connect) }
    }

    @Test func aFailedBindIsAFailedConnect() {
        var machine = Machine()
        _ = machine.connectRequested()
        machine.bindStarted()
        let wrongPassword = LDAPError(code: .invalidCredentials, operation: .bind)
        machine.connectFailed(wrongPassword)
        #expect(machine.state == .failed(wrongPassword))
    }

    @Test func reconnectsAfterTheServerIsLost() {
        var machine = Self.ready()
        do { let result = machine.connectionLost(); #expect(result) }
        #expect(machine.state == .draining(then: .reconnect))
        machine.drained()
        #expect(machine.state == .reconnecting)
        // A second report of the same loss (the write and the read both fail) changes nothing.
        do { let result = machine.connectionLost(); #expect(!result) }
        do { let result = machine.connectRequested(); #expect(result == .connect) }
        machine.bindStarted()
        do { let result = machine.connected(); #expect(result == .proceed) }
        #expect(machine.state == .ready)
    }

    @Test func aTimeoutDropsTheConnectionOnlyWhenTheServerIsSilentOrABindExpired() {
        var machine = Self.ready()
        // Other answers arrived since: only the slow request fails.
        do { let result = machine.requestExpired(closesConnection: false, serverSilent: false); #expect(result == .failRequest) }
        #expect(machine.state == .ready)
        // Nothing heard since it was sent: a frozen server or half-open TCP.
        do { let result = machine.requestExpired(closesConnection: false, serverSilent: true); #expect(result == .dropConnection) }
        #expect(machine.state == .draining(then: .reconnect))
        machine.drained()
        #expect(machine.state == .reconnecting)

        var bind = Self.ready()
        do { let result = bind.requestExpired(closesConnection: true, serverSilent: false); #expect(result == .dropConnection) }
        bind.drained()
        #expect(bind.state == .reconnecting)
    }

    @Test func aDeliberateReconnectNeedsNoDraining() {
        var machine = Self.ready()
        machine.reconnectRequested()
        #expect(machine.state == .reconnecting)
        do { let result = machine.connectRequested(); #expect(result == .connect) }
    }

    @Test func closeDrainsAReadyConnection() {
        var machine = Self.ready()
        do { let result = machine.closeRequested(); #expect(result) }
        #expect(machine.state == .draining(then: .close))
        do { let result = machine.connectRequested(); #expect(result == .fail(.connectionClosed)) }
        machine.drained()
        #expect(machine.state == .closed)
        do { let result = machine.connectRequested(); #expect(result == .fail(.connectionClosed)) }
        do { let result = machine.closeRequested(); #expect(!result) }
        #expect(machine.state == .closed)
    }

    @Test func closeWhileDrainingALostConnectionEndsClosed() {
        var machine = Self.ready()
        _ = machine.connectionLost()
        do { let result = machine.closeRequested(); #expect(result) }
        machine.drained()
        #expect(machine.state == .closed)
    }

    @Test func closeWhileConnectingClosesTheNewHandle() {
        var machine = Machine()
        _ = machine.connectRequested()
        do { let result = machine.closeRequested(); #expect(!result) }
        #expect(machine.state == .connecting(closeRequested: true))
        machine.bindStarted()
        #expect(machine.state == .binding(closeRequested: true))
        do { let result = machine.connected(); #expect(result == .closeHandle) }
        #expect(machine.state == .closed)

        var failing = Machine()
        _ = failing.connectRequested()
        _ = failing.closeRequested()
        failing.connectFailed(Self.refused)
        #expect(failing.state == .closed)
    }

    @Test func closeWithoutAConnection() {
        for setUp in [{ (m: inout Machine) in }, { m in _ = m.connectRequested(); m.connectFailed(Self.refused) },
                      { m in m = Self.ready(); _ = m.connectionLost(); m.drained() }] {
            var machine = Machine()
            setUp(&machine)
            do { let result = machine.closeRequested(); #expect(!result) }
            #expect(machine.state == .closed)
        }
    }
}
