import Dispatch
import Foundation
import PatronCore

extension Engine {
    /// Back-tests a configuration (`config`, by default the one in force) over the program's stored
    /// history of posted events, or over an uploaded CSV (`history`, docs/SIMULATION.md), from
    /// `from` to `to`; with `baseline` (a document, or `"current"` for the one in force) the report
    /// compares the two. Nothing is written: the replay runs in memory with the same core code as
    /// the live server.
    public func simulate(programCode: String, body: JSONValue, by principal: Principal) async throws -> SimulationReport {
        try require(.writeConfig, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["config", "baseline", "from", "to", "history"],
                                     faults: &faults)
        let fromText = reader?.string("from", required: true, maxLength: 64, faults: &faults)
        let toText = reader?.string("to", required: true, maxLength: 64, faults: &faults)
        let csv = reader?.string("history", maxLength: Int.max, faults: &faults)
        // The configuration in force, read once whether it is the baseline, the candidate or both.
        var inForce: JSONValue?
        func current() async throws -> JSONValue {
            if let inForce { return inForce }
            let document = try await config(program: program, number: program.configVersion).document
            inForce = document
            return document
        }
        var candidate: JSONValue?
        switch reader?.value("config") {
        case nil: break
        case .object(let document)?: candidate = .object(document)
        case let other?: faults.add(.root / "config", "wrong_type", "Expected a configuration object, found \(other.typeName).")
        }
        var baseline: JSONValue?
        switch reader?.value("baseline") {
        case nil: break
        case .object(let document)?: baseline = .object(document)
        case .string("current")?: baseline = try await current()
        case let other?:
            faults.add(.root / "baseline", "wrong_type",
                       "Expected a configuration object or \"current\", found \(other.typeName == "string" ? "another string" : other.typeName).")
        }
        let validator = ConfigValidator(programCurrency: program.currency)
        for (key, document) in [("config", candidate), ("baseline", baseline)] {
            guard let document else { continue }
            do throws(ValidationError) { try validator.validate(document) } catch {
                faults.add(error, under: .root / key)
            }
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let candidateDocument = if let candidate { candidate } else { try await current() }
        let timeZone = TimeZone(identifier: candidateDocument["time_zone"]?.stringValue ?? program.timeZone) ?? .gmt
        let from = Simulator.instant(fromText!, timeZone: timeZone)
        let to = Simulator.instant(toText!, timeZone: timeZone)
        if from == nil { faults.add(.root / "from", "invalid", "Expected a date (YYYY-MM-DD) or an RFC 3339 time.") }
        if to == nil { faults.add(.root / "to", "invalid", "Expected a date (YYYY-MM-DD) or an RFC 3339 time.") }
        if let from, let to, from >= to { faults.add(.root / "to", "not_after_from", "'to' must be after 'from'.") }
        let simulators = (try? Simulator(configuration: candidateDocument, programCode: program.code),
                          baseline.map { try? Simulator(configuration: $0, programCode: program.code) })
        if simulators.0 == nil {
            faults.add(.root / "config", "no_tiers", candidate == nil
                       ? "The configuration in force has no 'tiers'; give a candidate 'config' with them."
                       : "The configuration has no 'tiers' to simulate.")
        }
        if case .some(nil) = simulators.1 { faults.add(.root / "baseline", "no_tiers", "The baseline has no 'tiers'.") }
        var history: SimulationHistory?
        if let csv {
            do throws(SimulationHistory.Fault) { history = try SimulationHistory(csv: Data(csv.utf8)) } catch {
                faults.add(.root / "history", "invalid_csv", "\(error)")
            }
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let events: SimulationHistory
        if let history {
            events = history
        } else {
            do { events = try await store.eventHistory(programID: program.id, before: to!) } catch let overflow as SimulationHistory.Overflow {
                throw EngineError.conflict(code: "history_too_large", detail: "The program's history cannot be replayed: \(overflow.message).")
            }
        }
        let candidateSimulator = simulators.0!, baselineSimulator = simulators.1 ?? nil
        // The replay keeps every core busy for a while; it runs on its own threads, not the tasks'.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                do throws(Simulator.Failure) {
                    let report = if let baselineSimulator {
                        try Simulator.compare(candidate: candidateSimulator, baseline: baselineSimulator, history: events,
                                              from: from!, to: to!)
                    } else {
                        try candidateSimulator.run(events, from: from!, to: to!).report
                    }
                    continuation.resume(returning: report)
                } catch {
                    continuation.resume(throwing: EngineError.invalid(
                        ValidationError(pointer: "", code: "invalid_simulation", message: error.description)))
                }
            }
        }
    }
}
