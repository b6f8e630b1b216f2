// Appends login events to a LoginSpool until killed, printing each sequence number once
// `append` has returned (the event is durable). SpooledRecorderTests kills it with SIGKILL
// mid-burst and checks that every printed event survives. Not part of the product.
//
// Usage: spool-crash-writer <spool dir> <workspace DN> <epoch seconds>
import Directory
import Foundation
import LDAPClient

let arguments = CommandLine.arguments
guard arguments.count == 4, let epoch = Double(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: spool-crash-writer <spool dir> <workspace DN> <epoch seconds>\n".utf8))
    exit(2)
}
let spool = try LoginSpool(directory: URL(fileURLWithPath: arguments[1]))
let unit = try DistinguishedName(arguments[2]).child(type: "ou", value: "unit")

func event(_ index: Int) throws -> LoginEvent {
    let uid = "a\(index % 4 + 1)"
    let mail = index % 10 < 7
    return LoginEvent(time: Date(timeIntervalSince1970: epoch + Double(index) / 100), accountDN: try unit.child(type: "uid", value: uid),
                      loginName: uid, type: mail ? .pop3 : .pcBrowser, client: mail ? "" : "chrome",
                      ip: IPAddress(mail ? "10.9.\(index % 4).1" : "10.9.9.\(index % 4)"), country: nil, outcome: .success)
}

try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<16 {
        group.addTask {
            var index = worker
            while true {
                let sequence = try await spool.append(try event(index))
                // Unbuffered: a number the test reads was acknowledged before the kill.
                FileHandle.standardOutput.write(Data("\(sequence)\n".utf8))
                index += 16
            }
        }
    }
    try await group.waitForAll()
}
