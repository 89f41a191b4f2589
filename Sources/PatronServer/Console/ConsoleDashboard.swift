import Foundation
import Hummingbird
import PatronCore
import PatronEngine

/// A program's dashboard: members and activity, levels, points issued, spent and owed month by
/// month, and running paid plans, with charts drawn on the server.
extension ConsoleController {
    @Sendable func dashboard(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewDashboard) { shell, user, program in
            let language = shell.language
            let figures = try await engine.dashboard(programCode: program.code, months: 12, by: user.principal)
            let format = ConsoleFormat(program: program)
            let monthNames = language.word("month_names").split(separator: ",").map(String.init)
            let labels = figures.months.map { month -> String in
                let number = format.month(month.start)
                return monthNames.count == 12 ? monthNames[number - 1] : String(number)
            }
            let first = figures.months.first.map { format.day($0.start) } ?? ""
            func percent(_ part: Int) -> String {
                figures.members == 0 ? "—" : String(format: "%.0f%%", Double(part) * 100 / Double(figures.members))
            }
            let owed = figures.months.last?.outstanding ?? 0
            let kpis: [[String: String]] = [
                ["label": language.word("members"), "value": format.number(Int64(figures.members))],
                ["label": language.word("new_this_month"), "value": format.number(Int64(figures.months.last?.newMembers ?? 0))],
                ["label": language.word("active_30"), "value": percent(figures.active30),
                 "note": language.word("n_members", format.number(Int64(figures.active30)))],
                ["label": language.word("active_90"), "value": percent(figures.active90),
                 "note": language.word("n_members", format.number(Int64(figures.active90)))],
                ["label": language.word("outstanding"), "value": format.number(owed),
                 "note": format.money(owed.multipliedReportingOverflow(by: figures.valueMinorPerPoint).partialValue)],
                ["label": language.word("plans_active"), "value": format.number(Int64(figures.plans.reduce(0) { $0 + $1.members }))],
            ]
            let newMembers = figures.months.map { Int64($0.newMembers) }
            let joined = SVGChart(id: "chart-new-members", title: language.word("chart_new_members"),
                                  summary: Self.summary(labels, newMembers, format.number), format: format.number)
            let pointsChart = SVGChart(id: "chart-points", title: language.word("chart_points"),
                                       summary: [("issued", \ProgramDashboard.Month.issued), ("redeemed", \.redeemed),
                                                 ("expired", \.expired)].map { key, path in
                                           language.word(key) + ": " + Self.summary(labels, figures.months.map { $0[keyPath: path] }, format.number)
                                       }.joined(separator: ". "), format: format.number)
            let owedChart = SVGChart(id: "chart-outstanding", title: language.word("chart_outstanding"),
                                     summary: Self.summary(labels, figures.months.map(\.outstanding), format.number),
                                     format: format.number)
            let levelsChart = SVGChart(id: "chart-levels", title: language.word("chart_levels"),
                                       summary: figures.levels.map { "\($0.level.name) \($0.members)" }.joined(separator: ", "),
                                       format: format.number)
            let series = [
                SVGChart.Series(name: language.word("issued"), style: "s1", values: figures.months.map(\.issued)),
                SVGChart.Series(name: language.word("redeemed"), style: "s2", values: figures.months.map(\.redeemed)),
                SVGChart.Series(name: language.word("expired"), style: "s3", values: figures.months.map(\.expired)),
            ]
            let table: [[String: String]] = figures.months.enumerated().map { index, month in
                ["month": labels[index], "start": format.day(month.start), "new": format.number(Int64(month.newMembers)),
                 "issued": format.number(month.issued), "redeemed": format.number(month.redeemed),
                 "expired": format.number(month.expired), "outstanding": format.number(month.outstanding)]
            }
            var values: [String: Any] = [
                "kpis": kpis,
                "as_of": format.time(figures.asOf), "since": first,
                "chart_new_members": joined.bars(labels: labels, series: [
                    SVGChart.Series(name: language.word("new_members"), style: "s1", values: newMembers),
                ]),
                "chart_points": pointsChart.bars(labels: labels, series: series),
                "legend": series.map { ["name": $0.name, "style": $0.style] },
                "chart_outstanding": owedChart.line(labels: labels, values: figures.months.map(\.outstanding)),
                "months": table,
                "plans": figures.plans.map { ["name": $0.plan.name, "members": format.number(Int64($0.members))] },
                "has_plans": !figures.plans.isEmpty,
                "levels": figures.levels.map { ["name": $0.level.name, "members": format.number(Int64($0.members))] },
            ]
            if !figures.levels.isEmpty {
                values["chart_levels"] = levelsChart.shares(rows: figures.levels.map { ($0.level.name, $0.members) })
            }
            return pages.render("dashboard", title: language.word("dashboard") + " · " + program.name, shell: shell,
                                values: values)
        }
    }

    /// `Jan 12, Feb 30, …`: a chart's figures as text.
    static func summary(_ labels: [String], _ values: [Int64], _ format: (Int64) -> String) -> String {
        zip(labels, values).map { "\($0) \(format($1))" }.joined(separator: ", ")
    }
}
