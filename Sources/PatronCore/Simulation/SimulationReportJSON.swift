import Foundation

/// The report as JSON (the CLI's `--format json` and the API's answer) and as a table.
public enum SimulationReportJSON {
    public static func value(_ report: SimulationReport) -> JSONValue {
        func counts(_ counts: [String: Int]) -> JSONValue {
            .object(counts.mapValues { .int(Int64($0)) })
        }
        func matrix(_ matrix: [String: [String: Int]]) -> JSONValue {
            .object(matrix.mapValues(counts))
        }
        var object: [String: JSONValue] = [
            "from": .string(Timestamp.rfc3339(report.from)),
            "to": .string(Timestamp.rfc3339(report.to)),
            "levels": .array(report.levels.map(JSONValue.string)),
            "members": .int(Int64(report.members)),
            "events": .int(Int64(report.events)),
            "warmup_events": .int(Int64(report.warmupEvents)),
            "members_per_level": counts(report.membersPerLevel),
            "upgrades": .int(Int64(report.upgrades)),
            "downgrades": .int(Int64(report.downgrades)),
            "migration": matrix(report.migration),
            "points": .object([
                "issued": .int(report.points.issued), "clawed_back": .int(report.points.clawedBack),
                "expired": .int(report.points.expired), "outstanding": .int(report.points.outstanding),
                "liability_minor": .int(report.points.liabilityMinor),
            ]),
            "benefit_cost_minor": .object(report.benefitCost.mapValues(JSONValue.int)),
            "rule_failures": .int(Int64(report.ruleFailures)),
        ]
        if let baseline = report.baselineMembersPerLevel { object["baseline_members_per_level"] = counts(baseline) }
        if let baseline = report.baselineMigration { object["baseline_migration"] = matrix(baseline) }
        return .object(object)
    }

    public static func table(_ report: SimulationReport) -> String {
        var lines: [String] = []
        lines.append("Back-test from \(Timestamp.rfc3339(report.from)) to \(Timestamp.rfc3339(report.to)): "
                     + "\(report.members) members, \(report.events) events (\(report.warmupEvents) before 'from', as warm-up)")
        lines.append("")
        lines.append(row(["level", "members at 'to'"] + (report.baselineMembersPerLevel == nil ? [] : ["baseline"])))
        for level in report.levels {
            var cells = [level, "\(report.membersPerLevel[level] ?? 0)"]
            if let baseline = report.baselineMembersPerLevel { cells.append("\(baseline[level] ?? 0)") }
            lines.append(row(cells))
        }
        lines.append("")
        lines.append("upgrades \(report.upgrades), downgrades \(report.downgrades)")
        lines.append("")
        lines.append(matrix("level at 'from' → level at 'to'", report.migration, levels: report.levels))
        if let baseline = report.baselineMigration {
            lines.append("")
            lines.append(matrix("baseline at 'to' → candidate at 'to'", baseline, levels: report.levels))
        }
        let points = report.points
        lines.append("")
        lines.append("points issued \(points.issued), clawed back \(points.clawedBack), expired \(points.expired); "
                     + "outstanding at 'to' \(points.outstanding) (liability \(points.liabilityMinor) minor units)")
        if !report.benefitCost.isEmpty {
            lines.append("estimated benefit cost (minor units): "
                         + report.benefitCost.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if report.ruleFailures > 0 { lines.append("rule evaluations that failed: \(report.ruleFailures)") }
        return lines.joined(separator: "\n")
    }

    private static func row(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == 0 ? cell.padding(toLength: max(14, cell.count), withPad: " ", startingAt: 0)
                : String(repeating: " ", count: max(0, 14 - cell.count)) + cell
        }.joined()
    }

    private static func matrix(_ title: String, _ matrix: [String: [String: Int]], levels: [String]) -> String {
        var lines = [title, row([""] + levels)]
        let rows = levels + matrix.keys.filter { !levels.contains($0) }.sorted()
        for start in rows where matrix[start] != nil {
            lines.append(row([start] + levels.map { "\(matrix[start]?[$0] ?? 0)" }))
        }
        return lines.joined(separator: "\n")
    }
}
