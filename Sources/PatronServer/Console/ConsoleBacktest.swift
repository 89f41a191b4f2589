import Foundation
import Hummingbird
import PatronCore
import PatronEngine

/// The back-test page: a candidate configuration (the one in force, edited), a period, and the
/// program's stored history or an uploaded CSV, replayed by the engine; the levels side by side
/// with the configuration in force, and the migration matrices as heat maps.
///
/// It lives at `…/simulations`, the path the server lets carry an upload.
extension ConsoleController {
    @Sendable func backtestPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .runBacktests) { shell, user, program in
            let current = try await engine.currentConfig(programCode: program.code, by: user.principal)
            let format = ConsoleFormat(program: program)
            let now = engine.now()
            let yearAgo = Calendar(identifier: .gregorian).date(byAdding: .year, value: -1, to: now) ?? now
            return backtestView(shell: shell, program: program, form: [
                "config": Self.pretty(current.document), "from": format.day(yearAgo), "to": format.day(now),
                "history": "stored", "baseline": "on",
            ])
        }
    }

    @Sendable func runBacktest(_ request: Request, context: PatronRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: Int.max)
        let form = MultipartForm.fields(contentType: request.headers[.contentType] ?? "", body: Data(buffer: body))
            ?? Self.fields(urlEncoded: String(buffer: body))
        return try await programPage(request, context, needs: .runBacktests, form: form) { shell, user, program in
            let language = shell.language
            var faults: [String: String] = [:]
            var simulation: [String: JSONValue] = ["from": .string(form["from"] ?? ""), "to": .string(form["to"] ?? "")]
            switch try? JSONValue(parsing: Data((form["config"] ?? "").utf8)) {
            case .object(let document)?: simulation["config"] = .object(document)
            default: faults["config"] = language.word("not_json")
            }
            if form["baseline"] != nil { simulation["baseline"] = "current" }
            if form["history"] == "upload" {
                let csv = form["csv"] ?? ""
                if csv.isEmpty { faults["csv"] = language.word("choose_csv") } else { simulation["history"] = .string(csv) }
            }
            guard faults.isEmpty else {
                return backtestView(shell: shell, program: program, form: form, status: .unprocessableContent, faults: faults)
            }
            do {
                let report = try await engine.simulate(programCode: program.code, body: .object(simulation), by: user.principal)
                logger.info("back-test run in the console", metadata: [
                    "operator": "\(user.id)", "program": "\(program.code)", "events": "\(report.events)",
                ])
                return backtestView(shell: shell, program: program, form: form, report: report,
                                    candidate: simulation["config"])
            } catch EngineError.invalid(let error) {
                for fault in error.faults {
                    let field = fault.pointer.hasPrefix("/config") ? "config"
                        : fault.pointer == "/history" ? "csv" : String(fault.pointer.dropFirst())
                    let text = fault.pointer.hasPrefix("/config/") ? "\(fault.pointer.dropFirst(7)): \(fault.message)" : fault.message
                    faults[field.isEmpty ? "general" : field] = faults[field].map { $0 + " " + text } ?? text
                }
                return backtestView(shell: shell, program: program, form: form, status: .unprocessableContent, faults: faults)
            } catch EngineError.conflict(_, let detail) {
                return backtestView(shell: shell, program: program, form: form, status: .conflict, faults: ["general": detail])
            }
        }
    }

    private func backtestView(shell: ConsoleShell, program: Program, form: [String: String],
                              status: HTTPResponse.Status = .ok, faults: [String: String] = [:],
                              report: SimulationReport? = nil, candidate: JSONValue? = nil) -> Response {
        let language = shell.language
        var values: [String: Any] = [
            "action": "/console/programs/\(program.code)/simulations",
            "form": ["config": form["config"] ?? "", "from": form["from"] ?? "", "to": form["to"] ?? ""],
            "stored": form["history"] != "upload", "upload": form["history"] == "upload",
            "baseline": form["baseline"] != nil,
            "faults": faults, "has_faults": !faults.isEmpty,
        ]
        if let report {
            values["report"] = reportModel(report, names: Self.levelNames(candidate), program: program, language: language)
        }
        return pages.render("backtest", status: status, title: language.word("backtest"), shell: shell, values: values)
    }

    private func reportModel(_ report: SimulationReport, names: [String: String], program: Program,
                             language: ConsoleLanguage) -> [String: Any] {
        let format = ConsoleFormat(program: program)
        let levels = report.levels
        func name(_ code: String) -> String { names[code] ?? code }
        var model: [String: Any] = [
            "figures": [
                ["label": language.word("members"), "value": format.number(Int64(report.members))],
                ["label": language.word("events_replayed"),
                 "value": format.number(Int64(report.events)),
                 "note": language.word("warmup_events", format.number(Int64(report.warmupEvents)))],
                ["label": language.word("upgrades"), "value": format.number(Int64(report.upgrades))],
                ["label": language.word("downgrades"), "value": format.number(Int64(report.downgrades))],
                ["label": language.word("issued"), "value": format.number(report.points.issued)],
                ["label": language.word("outstanding"), "value": format.number(report.points.outstanding),
                 "note": format.money(report.points.liabilityMinor)],
            ],
            "period": language.word("window_from", format.day(report.from), format.day(report.to)),
        ]
        let baseline = report.baselineMembersPerLevel
        model["distribution"] = levels.map { code -> [String: String] in
            let candidate = report.membersPerLevel[code] ?? 0
            var row = ["level": name(code), "candidate": format.number(Int64(candidate))]
            if let old = baseline?[code] {
                row["baseline"] = format.number(Int64(old))
                row["change"] = format.signed(Int64(candidate - old))
            }
            return row
        }
        model["has_baseline"] = baseline != nil
        var series = [SVGChart.Series(name: language.word("candidate"), style: "s1",
                                      values: levels.map { Int64(report.membersPerLevel[$0] ?? 0) })]
        if let baseline {
            series.insert(SVGChart.Series(name: language.word("in_force"), style: "s3",
                                          values: levels.map { Int64(baseline[$0] ?? 0) }), at: 0)
        }
        let chart = SVGChart(id: "chart-backtest-levels", title: language.word("levels_at_end"),
                             summary: series.map { line in
                                 line.name + ": " + Self.summary(levels.map(name), line.values, format.number)
                             }.joined(separator: ". "), format: format.number)
        model["chart"] = chart.bars(labels: levels.map(name), series: series)
        model["legend"] = series.map { ["name": $0.name, "style": $0.style] }
        model["migration"] = heatMap(report.migration, levels: levels, name: name, id: "migration",
                                     caption: language.word("migration_caption"), rowsLabel: language.word("level_at_from"),
                                     columnsLabel: language.word("level_at_to"))
        if let matrix = report.baselineMigration {
            model["comparison"] = heatMap(matrix, levels: levels, name: name, id: "comparison",
                                          caption: language.word("comparison_caption"),
                                          rowsLabel: language.word("level_in_force"), columnsLabel: language.word("level_candidate"))
        }
        return model
    }

    /// A matrix as a table whose cells are shaded by their share of the largest (`heat-0` to
    /// `heat-5`, from the stylesheet); the numbers stay in the cells.
    private func heatMap(_ matrix: [String: [String: Int]], levels: [String], name: (String) -> String, id: String,
                         caption: String, rowsLabel: String, columnsLabel: String) -> [String: Any] {
        // Rows also for a level a member held at `from` that the candidate no longer has.
        let rowsCodes = levels + matrix.keys.filter { !levels.contains($0) }.sorted()
        let largest = max(matrix.values.flatMap(\.values).max() ?? 0, 1)
        let rows: [[String: Any]] = rowsCodes.map { from in
            let cells: [[String: Any]] = levels.map { to in
                let count = matrix[from]?[to] ?? 0
                let heat = count == 0 ? 0 : 1 + min(4, count * 4 / largest)
                return ["count": String(count), "heat": "heat-\(heat)", "diagonal": from == to]
            }
            return ["level": name(from), "cells": cells]
        }
        return ["id": id, "caption": caption, "rows_label": rowsLabel, "columns_label": columnsLabel, "span": String(levels.count),
                "columns": levels.map { ["level": name($0)] }, "rows": rows]
    }

    /// Level code → name in a configuration document.
    static func levelNames(_ document: JSONValue?) -> [String: String] {
        var names: [String: String] = [:]
        for level in document?["tiers"]?["levels"]?.arrayValue ?? [] {
            if let code = level["code"]?.stringValue { names[code] = level["name"]?.stringValue ?? code }
        }
        return names
    }
}
