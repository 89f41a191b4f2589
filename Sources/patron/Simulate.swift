import ArgumentParser
import Foundation
import PatronCore

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back-test a configuration: replay a history of events and report levels, migrations and points.",
        discussion: """
            The history is CSV with a header naming at least member,occurred_at,type,amount,order_id
            (docs/SIMULATION.md). Events before --from warm the model up; events at or after --to are
            left out; reviews at instants up to and including --to apply. Dates are 00:00 in the
            configuration's time zone (a full RFC 3339 time is taken as it is).
            """)

    @Option(help: "The candidate configuration document (JSON, as PUT …/config takes it).") var config: String
    @Option(help: "The history to replay (CSV).") var history: String
    @Option(help: "The start of the period reported on (YYYY-MM-DD).") var from: String
    @Option(help: "The end of the period reported on (YYYY-MM-DD).") var to: String
    @Option(help: "A configuration to compare with: its levels at --to against the candidate's.") var baseline: String?
    @Option(help: "table or json.") var format: OutputFormat = .table

    enum OutputFormat: String, ExpressibleByArgument {
        case table, json
    }

    func run() throws {
        let started = Date()
        let candidate = try Self.configuration(at: config)
        let timeZone = TimeZone(identifier: candidate["time_zone"]?.stringValue ?? "UTC") ?? .gmt
        let start = try Self.instant(from, timeZone: timeZone, option: "--from")
        let end = try Self.instant(to, timeZone: timeZone, option: "--to")
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: history)) } catch {
            throw ValidationError("Cannot read --history \(history): \(error.localizedDescription)")
        }
        let events: SimulationHistory
        do throws(SimulationHistory.Fault) { events = try SimulationHistory(csv: data) } catch {
            throw ValidationError("--history \(history), \(error)")
        }
        let read = Date()
        let baselineDocument = try baseline.map(Self.configuration(at:))
        let report: SimulationReport
        do throws(Simulator.Failure) {
            let simulator = try Simulator(configuration: candidate)
            if let baselineDocument {
                report = try Simulator.compare(candidate: simulator, baseline: try Simulator(configuration: baselineDocument),
                                               history: events, from: start, to: end)
            } else {
                report = try simulator.run(events, from: start, to: end).report
            }
        } catch {
            throw ValidationError(error.description)
        }
        switch format {
        case .json: print(String(decoding: SimulationReportJSON.value(report).canonicalData(), as: UTF8.self))
        case .table: print(SimulationReportJSON.table(report))
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        FileHandle.standardError.write(Data(String(
            format: "simulate: %d events of %d members read in %.1f s, replayed in %.1f s; peak memory %.0f MiB\n",
            events.count, events.members.count, read.timeIntervalSince(started), Date().timeIntervalSince(read),
            Double(usage.ru_maxrss) / 1024).utf8))
    }

    /// A configuration document from a file, validated as `PUT …/config` validates it.
    static func configuration(at path: String) throws -> JSONValue {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("Cannot read the configuration \(path): \(error)")
        }
        do throws(PatronCore.ValidationError) {
            try ConfigValidator(programCurrency: document["currency"]?.stringValue ?? "").validate(document)
        } catch {
            throw ValidationError("The configuration \(path) is not valid: "
                                  + error.faults.map { "\($0.pointer): \($0.message)" }.joined(separator: "; "))
        }
        return document
    }

    /// `YYYY-MM-DD` as 00:00 in the zone, or an RFC 3339 time.
    static func instant(_ text: String, timeZone: TimeZone, option: String) throws -> Date {
        guard let date = Simulator.instant(text, timeZone: timeZone) else {
            throw ValidationError("\(option) '\(text)' is not a date (YYYY-MM-DD) or an RFC 3339 time.")
        }
        return date
    }
}
