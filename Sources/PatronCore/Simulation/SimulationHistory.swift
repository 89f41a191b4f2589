import Dispatch
import Foundation
import Synchronization

/// A history of events to replay, read from CSV (docs/SIMULATION.md) and held in columns, so that
/// ten million events take a few hundred megabytes: members, types and channels as indexes into
/// interned tables, times in milliseconds, amounts as integers, order ids as 64-bit hashes.
public struct SimulationHistory: Sendable {
    /// Member ids, in order of first appearance.
    public var members: [String] = []
    /// Event types and channels, interned.
    public var types: [String] = []
    public var channels: [String] = []
    /// Per event, in the file's order.
    public var member: [Int32] = []
    /// Milliseconds since the epoch.
    public var at: [Int64] = []
    public var type: [UInt16] = []
    public var amount: [Int64] = []
    /// FNV-1a of the order id; 0 when there is none.
    public var order: [UInt64] = []
    /// 1 + the index into `channels`; 0 when there is none.
    public var channel: [UInt16] = []

    public init() {}

    public var count: Int { at.count }

    /// A fault in the CSV, with its line number (the header is line 1).
    public struct Fault: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// A history too large for its tables (`Builder.append`'s answer, thrown by a reader that has
    /// no line to report it at).
    public struct Overflow: Error, Sendable, Hashable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// The columns the header must name.
    public static let requiredColumns = ["member", "occurred_at", "type", "amount", "order_id"]

    /// Reads RFC 4180 CSV: a header row naming at least `requiredColumns` (`channel` is read too;
    /// other columns are ignored), then one event per row. Fields may be quoted, with `""` for a
    /// quote inside; lines end with LF or CRLF; blank lines are skipped. `occurred_at` is RFC 3339
    /// with an offset; `amount` an integer ≥ 0 in minor units (empty: 0); `order_id` may be empty.
    ///
    /// A large file without quotes is read by `workers` threads, each a part that ends at a line
    /// end, and the parts joined in order: the same history, and the same fault at the same line,
    /// as a reading from start to end. (With quotes, a line end may be inside a field, and the file
    /// is read in one go.) Files below `partMinimum` bytes are read by one thread: parts would cost
    /// more than they save.
    public init(csv data: Data, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                partMinimum: Int = 4 << 20) throws(Fault) {
        var result: Result<SimulationHistory, Fault> = .success(SimulationHistory())
        data.withUnsafeBytes { raw in
            do throws(Fault) {
                result = .success(try Self.read(raw.bindMemory(to: UInt8.self), workers: workers, partMinimum: partMinimum))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    /// Where each column the history needs is in a row.
    struct Columns {
        var member: Int, at: Int, type: Int, amount: Int, order: Int, channel: Int?
        /// Fields per row.
        var width: Int
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>, workers: Int, partMinimum: Int) throws(Fault)
        -> SimulationHistory {
        var scanner = CSVScanner(bytes: bytes)
        var fields: [CSVScanner.Field] = []
        guard try scanner.next(into: &fields) else { throw Fault(line: 1, message: "the file is empty: a header row is needed") }
        var names: [String: Int] = [:]
        for (position, field) in fields.enumerated() {
            names[scanner.string(field).trimmingCharacters(in: .whitespaces).lowercased()] = position
        }
        let missing = Self.requiredColumns.filter { names[$0] == nil }
        guard missing.isEmpty else {
            throw Fault(line: 1, message: "the header has no \(missing.map { "'\($0)'" }.joined(separator: ", ")) column")
        }
        let columns = Columns(member: names["member"]!, at: names["occurred_at"]!, type: names["type"]!,
                              amount: names["amount"]!, order: names["order_id"]!, channel: names["channel"],
                              width: fields.count)
        let body = UnsafeBufferPointer(rebasing: bytes[scanner.index...])
        let parts = body.count < partMinimum || memchr(body.baseAddress!, Int32(UInt8(ascii: "\"")), body.count) != nil
            ? 1 : max(1, workers)
        func inOneGo() throws(Fault) -> SimulationHistory {
            var builder = Builder(reservingCapacity: body.count / 60)
            _ = try records(body, columns: columns, firstLine: 2, into: &builder)
            return builder.history
        }
        if parts == 1 { return try inOneGo() }
        // Cut the body at line ends near equal shares.
        var cuts = [0]
        for part in 1..<parts {
            var cut = max(cuts.last!, body.count * part / parts)
            while cut < body.count, body[cut] != UInt8(ascii: "\n") { cut += 1 }
            cuts.append(min(body.count, cut + 1))
        }
        cuts.append(body.count)
        // The parts read disjoint ranges of bytes that outlive the threads.
        nonisolated(unsafe) let shared = body
        let bounds = cuts
        let read = Mutex<[Int: Result<(builder: Builder, lines: Int), Fault>]>([:])
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let slice = UnsafeBufferPointer(rebasing: shared[bounds[part]..<bounds[part + 1]])
            var builder = Builder(reservingCapacity: slice.count / 60)
            let outcome: Result<(builder: Builder, lines: Int), Fault>
            do throws(Fault) {
                let lines = try records(slice, columns: columns, firstLine: 1, into: &builder)
                outcome = .success((builder, lines))
            } catch {
                outcome = .failure(error)
            }
            read.withLock { $0[part] = outcome }
        }
        // Joined in order; a fault is reported at its line in the whole file.
        var joined: [Builder] = []
        var linesBefore = 1
        for part in 0..<parts {
            switch read.withLock({ $0[part]! }) {
            case .success(let done):
                joined.append(done.builder)
                linesBefore += done.lines
            case .failure(let fault):
                throw Fault(line: linesBefore + fault.line, message: fault.message)
            }
        }
        // A table that overflows only once the parts are joined: read again in one go, which finds
        // the line where it does.
        guard let history = Builder.join(joined) else { return try inOneGo() }
        return history
    }

    /// Reads the rows of `bytes` (no header) into `builder`; `firstLine` is the first row's line
    /// number, for faults. Returns the lines read.
    private static func records(_ bytes: UnsafeBufferPointer<UInt8>, columns: Columns, firstLine: Int,
                                into builder: inout Builder) throws(Fault) -> Int {
        var scanner = CSVScanner(bytes: bytes)
        scanner.line = firstLine - 1
        var fields: [CSVScanner.Field] = []
        while true {
            let line = scanner.line + 1
            guard try scanner.next(into: &fields) else { return scanner.line - (firstLine - 1) }
            if fields.count == 1, scanner.isEmpty(fields[0]) { continue }
            guard fields.count == columns.width else {
                throw Fault(line: line, message: "\(fields.count) fields where the header has \(columns.width)")
            }
            let id = scanner.string(fields[columns.member])
            guard !id.isEmpty else { throw Fault(line: line, message: "'member' is empty") }
            guard let instant = scanner.timestamp(fields[columns.at]) else {
                throw Fault(line: line, message: "'occurred_at' is not an RFC 3339 time with an offset")
            }
            let typeName = scanner.string(fields[columns.type])
            guard !typeName.isEmpty else { throw Fault(line: line, message: "'type' is empty") }
            let value: Int64
            if scanner.isEmpty(fields[columns.amount]) {
                value = 0
            } else {
                guard let parsed = scanner.integer(fields[columns.amount]), parsed >= 0 else {
                    throw Fault(line: line, message: "'amount' is not an integer ≥ 0")
                }
                value = parsed
            }
            var channelName: String?
            if let channel = columns.channel, !scanner.isEmpty(fields[channel]) { channelName = scanner.string(fields[channel]) }
            if let overflow = builder.append(member: id, at: instant, type: typeName, amount: value,
                                             order: scanner.withBytes(fields[columns.order], Self.orderHash),
                                             channel: channelName) {
                throw Fault(line: line, message: overflow)
            }
        }
    }

    /// FNV-1a of an order id's UTF-8 bytes, 64 bits; 0 for an empty id (and never 0 otherwise).
    public static func orderHash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        guard !bytes.isEmpty else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash == 0 ? 1 : hash
    }

    public static func orderHash(_ id: String?) -> UInt64 {
        guard var id else { return 0 }
        return id.withUTF8(orderHash)
    }

    /// Builds a history one event at a time, interning members, types and channels. The CSV reader
    /// and the store's history of posted events both use it.
    public struct Builder: Sendable {
        public private(set) var history = SimulationHistory()
        private var memberIndex: [String: Int32] = [:]
        private var typeIndex: [String: UInt16] = [:]
        private var channelIndex: [String: UInt16] = [:]

        public init(reservingCapacity capacity: Int = 0) {
            history.member.reserveCapacity(capacity); history.at.reserveCapacity(capacity)
            history.type.reserveCapacity(capacity); history.amount.reserveCapacity(capacity)
            history.order.reserveCapacity(capacity); history.channel.reserveCapacity(capacity)
        }

        /// Adds an event (`at` in milliseconds since the epoch, `order` from `orderHash`). Answers
        /// why it could not when a table is full (65,535 types or channels, 2³¹ members), else nil.
        public mutating func append(member id: String, at instant: Int64, type typeName: String, amount: Int64,
                                    order: UInt64, channel channelName: String?) -> String? {
            guard let memberNumber = Self.intern(id, &memberIndex, &history.members, capacity: Self.memberCapacity) else {
                return "too many members"
            }
            guard let typeNumber = Self.intern(typeName, &typeIndex, &history.types, capacity: Self.typeCapacity) else {
                return "too many event types"
            }
            var channelNumber: UInt16 = 0
            if let channelName {
                guard let number = Self.intern(channelName, &channelIndex, &history.channels, capacity: Self.channelCapacity,
                                               base: 1) else { return "too many channels" }
                channelNumber = number
            }
            history.member.append(memberNumber)
            history.at.append(instant)
            history.type.append(typeNumber)
            history.amount.append(amount)
            history.order.append(order)
            history.channel.append(channelNumber)
            return nil
        }

        /// How many members, event types and channels the columns can number.
        static let memberCapacity = Int(Int32.max), typeCapacity = Int(UInt16.max), channelCapacity = Int(UInt16.max) - 1

        /// The number of `name` in `table` (its position plus `base`), added at the end when new;
        /// nil when the table is new to it and already holds `capacity` names.
        @inline(__always)
        private static func intern<Number: FixedWidthInteger>(_ name: String, _ index: inout [String: Number],
                                                              _ table: inout [String], capacity: Int,
                                                              base: Int = 0) -> Number? {
            if let known = index[name] { return known }
            guard table.count < capacity else { return nil }
            let number = Number(table.count + base)
            index[name] = number
            table.append(name)
            return number
        }

        /// The histories of consecutive parts of one file as one: each part's members, types and
        /// channels interned in order, so that the tables and indexes are those of a single
        /// reading. Nil when a table overflows.
        static func join(_ parts: [Builder]) -> SimulationHistory? {
            var joined = Builder(reservingCapacity: parts.reduce(0) { $0 + $1.history.count })
            for part in parts {
                let events = part.history
                var members: [Int32] = []
                members.reserveCapacity(events.members.count)
                for id in events.members {
                    guard let number = intern(id, &joined.memberIndex, &joined.history.members, capacity: memberCapacity)
                    else { return nil }
                    members.append(number)
                }
                var types: [UInt16] = []
                for name in events.types {
                    guard let number = intern(name, &joined.typeIndex, &joined.history.types, capacity: typeCapacity)
                    else { return nil }
                    types.append(number)
                }
                // Channel numbers start at 1 (0: none).
                var channels: [UInt16] = [0]
                for name in events.channels {
                    guard let number = intern(name, &joined.channelIndex, &joined.history.channels,
                                              capacity: channelCapacity, base: 1) else { return nil }
                    channels.append(number)
                }
                joined.history.member.append(contentsOf: events.member.lazy.map { members[Int($0)] })
                joined.history.at.append(contentsOf: events.at)
                joined.history.type.append(contentsOf: events.type.lazy.map { types[Int($0)] })
                joined.history.amount.append(contentsOf: events.amount)
                joined.history.order.append(contentsOf: events.order)
                joined.history.channel.append(contentsOf: events.channel.lazy.map { channels[Int($0)] })
            }
            return joined.history
        }
    }
}

/// Splits CSV bytes into records, with the few parsers the history needs working on the bytes.
struct CSVScanner {
    enum Field {
        /// Bytes `start..<end` of the input.
        case raw(Int, Int)
        /// A quoted field, unescaped.
        case owned([UInt8])
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Lines read so far.
    var line = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"),
                       carriageReturn = UInt8(ascii: "\r")

    /// Reads the next record into `fields`; false at the end of the input.
    mutating func next(into fields: inout [Field]) throws(SimulationHistory.Fault) -> Bool {
        fields.removeAll(keepingCapacity: true)
        guard index < bytes.count else { return false }
        line += 1
        let first = line
        while true {
            if index < bytes.count, bytes[index] == Self.quote {
                index += 1
                var value: [UInt8] = []
                while true {
                    guard index < bytes.count else {
                        throw SimulationHistory.Fault(line: first, message: "a quoted field is not closed")
                    }
                    let byte = bytes[index]
                    index += 1
                    if byte == Self.quote {
                        guard index < bytes.count, bytes[index] == Self.quote else { break }
                        index += 1
                    } else if byte == Self.newline {
                        line += 1
                    }
                    value.append(byte)
                }
                fields.append(.owned(value))
                if index < bytes.count, bytes[index] == Self.carriageReturn { index += 1 }
                guard index < bytes.count else { return true }
                if bytes[index] == Self.comma { index += 1; continue }
                guard bytes[index] == Self.newline else {
                    throw SimulationHistory.Fault(line: first, message: "text after a closing quote")
                }
                index += 1
                return true
            }
            let start = index
            while index < bytes.count, bytes[index] != Self.comma, bytes[index] != Self.newline { index += 1 }
            var stop = index
            if stop > start, bytes[stop - 1] == Self.carriageReturn, index == bytes.count || bytes[index] == Self.newline {
                stop -= 1
            }
            fields.append(.raw(start, stop))
            guard index < bytes.count else { return true }
            let separator = bytes[index]
            index += 1
            if separator == Self.newline { return true }
        }
    }

    func isEmpty(_ field: Field) -> Bool {
        switch field {
        case .raw(let start, let end): start == end
        case .owned(let value): value.isEmpty
        }
    }

    func withBytes<T>(_ field: Field, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        switch field {
        case .raw(let start, let end): body(UnsafeBufferPointer(rebasing: bytes[start..<end]))
        case .owned(let value): value.withUnsafeBufferPointer(body)
        }
    }

    func string(_ field: Field) -> String {
        withBytes(field) { String(decoding: $0, as: UTF8.self) }
    }

    func integer(_ field: Field) -> Int64? {
        withBytes(field) { bytes in
            var position = 0
            var negative = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { negative = true; position += 1 }
            guard position < bytes.count else { return nil }
            var value: Int64 = 0
            while position < bytes.count {
                let digit = Int64(bytes[position]) - 48
                guard (0...9).contains(digit) else { return nil }
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(digit)
                guard !overflow, !overflow2 else { return nil }
                value = sum
                position += 1
            }
            return negative ? -value : value
        }
    }

    /// RFC 3339 (`2026-03-01T10:00:00Z`, `…T10:00:00.123+08:00`), as milliseconds since the epoch.
    func timestamp(_ field: Field) -> Int64? {
        withBytes(field) { bytes -> Int64? in
            func number(_ from: Int, _ count: Int) -> Int64? {
                guard from + count <= bytes.count else { return nil }
                var value: Int64 = 0
                for position in from..<(from + count) {
                    let digit = Int64(bytes[position]) - 48
                    guard (0...9).contains(digit) else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            func at(_ position: Int, _ character: Unicode.Scalar) -> Bool {
                position < bytes.count && bytes[position] == UInt8(ascii: character)
            }
            guard let year = number(0, 4), at(4, "-"), let month = number(5, 2), at(7, "-"), let day = number(8, 2),
                  at(10, "T") || at(10, "t") || at(10, " "), let hour = number(11, 2), at(13, ":"),
                  let minute = number(14, 2), at(16, ":"), let second = number(17, 2),
                  (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour < 24, minute < 60,
                  second < 61 else { return nil }
            var position = 19
            var millisecond: Int64 = 0
            if at(position, ".") {
                position += 1
                var digits = 0
                while position < bytes.count, (48...57).contains(bytes[position]) {
                    if digits < 3 { millisecond = millisecond * 10 + Int64(bytes[position]) - 48 }
                    digits += 1
                    position += 1
                }
                guard digits > 0 else { return nil }
                if digits < 3 { for _ in digits..<3 { millisecond *= 10 } }
            }
            var offset: Int64 = 0
            if at(position, "Z") || at(position, "z") {
                position += 1
            } else if at(position, "+") || at(position, "-") {
                let sign: Int64 = at(position, "-") ? -1 : 1
                guard let hours = number(position + 1, 2), at(position + 3, ":"), let minutes = number(position + 4, 2),
                      hours < 24, minutes < 60 else { return nil }
                offset = sign * (hours * 60 + minutes) * 60
                position += 6
            } else {
                return nil
            }
            guard position == bytes.count else { return nil }
            let days = daysFromCivil(year: year, month: month, day: day)
            let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offset
            return seconds * 1000 + millisecond
        }
    }
}
