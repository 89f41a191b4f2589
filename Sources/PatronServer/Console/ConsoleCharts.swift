import Foundation

/// Charts drawn on the server as inline SVG: readable without JavaScript, styled by the console's
/// stylesheet (series colours are classes), each with a title and a description for screen
/// readers. Values are integers; `format` writes them for labels.
struct SVGChart {
    static let width = 360.0, height = 200.0
    static let left = 46.0, right = 8.0, top = 12.0, bottom = 24.0
    static var plotWidth: Double { width - left - right }
    static var plotHeight: Double { height - top - bottom }

    struct Series {
        var name: String
        /// `s1`, `s2`, `s3`: the colour, from the stylesheet.
        var style: String
        var values: [Int64]
    }

    let id: String
    let title: String
    let summary: String
    let format: (Int64) -> String

    /// Bars per label, one per series side by side.
    func bars(labels: [String], series: [Series]) -> String {
        let scale = Scale(maximum: series.flatMap(\.values).max() ?? 0)
        let group = Self.plotWidth / Double(max(labels.count, 1))
        let bar = group * 0.78 / Double(max(series.count, 1))
        var marks = ""
        for (index, _) in labels.enumerated() {
            for (offset, line) in series.enumerated() where index < line.values.count {
                let value = max(0, line.values[index])
                let height = scale.height(of: value)
                let x = Self.left + Double(index) * group + group * 0.11 + Double(offset) * bar
                marks += #"<rect class="\#(line.style)" x="\#(Self.n(x))" y="\#(Self.n(Self.top + Self.plotHeight - height))" width="\#(Self.n(max(bar - 1, 1)))" height="\#(Self.n(height))"><title>\#(Self.escape(labels[index])): \#(Self.escape(line.name)) \#(Self.escape(format(value)))</title></rect>"#
            }
        }
        return frame(scale: scale, labels: labels, marks: marks)
    }

    /// A line with the area under it, one point per label.
    func line(labels: [String], values: [Int64], style: String = "s1") -> String {
        let scale = Scale(maximum: values.max() ?? 0)
        let step = Self.plotWidth / Double(max(labels.count, 1))
        let points = values.enumerated().map { index, value in
            (x: Self.left + step * (Double(index) + 0.5), y: Self.top + Self.plotHeight - scale.height(of: max(0, value)))
        }
        let path = points.map { "\(Self.n($0.x)),\(Self.n($0.y))" }.joined(separator: " ")
        var marks = ""
        if let first = points.first, let last = points.last {
            let base = Self.n(Self.top + Self.plotHeight)
            marks += #"<polygon class="area \#(style)" points="\#(Self.n(first.x)),\#(base) \#(path) \#(Self.n(last.x)),\#(base)"/>"#
            marks += #"<polyline class="line \#(style)" points="\#(path)"/>"#
        }
        for (index, point) in points.enumerated() {
            marks += #"<circle class="dot \#(style)" cx="\#(Self.n(point.x))" cy="\#(Self.n(point.y))" r="2.5"><title>\#(Self.escape(labels[index])): \#(Self.escape(format(values[index])))</title></circle>"#
        }
        return frame(scale: scale, labels: labels, marks: marks)
    }

    /// One horizontal bar per row, with its value and share written beside it.
    func shares(rows: [(label: String, value: Int)], style: String = "s1") -> String {
        let total = max(rows.reduce(0) { $0 + $1.value }, 1)
        let largest = max(rows.map(\.value).max() ?? 0, 1)
        let rowHeight = 26.0, labelWidth = 92.0, valueWidth = 84.0
        let height = Double(max(rows.count, 1)) * rowHeight + 8
        var body = ""
        for (index, row) in rows.enumerated() {
            let y = 4 + Double(index) * rowHeight
            let length = (Self.width - labelWidth - valueWidth - 8) * Double(row.value) / Double(largest)
            let share = Double(row.value) * 100 / Double(total)
            body += #"<text class="label" x="\#(Self.n(labelWidth - 6))" y="\#(Self.n(y + 15))" text-anchor="end">\#(Self.escape(row.label))</text>"#
            body += #"<rect class="\#(style)" x="\#(Self.n(labelWidth))" y="\#(Self.n(y + 4))" width="\#(Self.n(max(length, row.value > 0 ? 1 : 0)))" height="14"/>"#
            body += #"<text class="value" x="\#(Self.n(labelWidth + length + 4))" y="\#(Self.n(y + 15))">\#(Self.escape(format(Int64(row.value)))) · \#(String(format: "%.0f%%", share))</text>"#
        }
        return svg(height: height, body: body)
    }

    // MARK: - Parts

    private func frame(scale: Scale, labels: [String], marks: String) -> String {
        var body = ""
        for tick in scale.ticks {
            let y = Self.top + Self.plotHeight - scale.height(of: tick)
            body += #"<line class="grid" x1="\#(Self.n(Self.left))" x2="\#(Self.n(Self.width - Self.right))" y1="\#(Self.n(y))" y2="\#(Self.n(y))"/>"#
            body += #"<text class="axis" x="\#(Self.n(Self.left - 4))" y="\#(Self.n(y + 3))" text-anchor="end">\#(Self.escape(Self.compact(tick)))</text>"#
        }
        let step = Self.plotWidth / Double(max(labels.count, 1))
        // Every label when they fit, else every other one.
        let stride = labels.count > 12 ? 2 : 1
        for (index, label) in labels.enumerated() where index % stride == 0 {
            let x = Self.left + step * (Double(index) + 0.5)
            body += #"<text class="axis" x="\#(Self.n(x))" y="\#(Self.n(Self.height - 8))" text-anchor="middle">\#(Self.escape(label))</text>"#
        }
        return svg(height: Self.height, body: body + marks)
    }

    private func svg(height: Double, body: String) -> String {
        #"<svg class="chart" id="\#(id)" viewBox="0 0 \#(Self.n(Self.width)) \#(Self.n(height))" role="img" aria-labelledby="\#(id)-title \#(id)-desc" preserveAspectRatio="xMidYMid meet"><title id="\#(id)-title">\#(Self.escape(title))</title><desc id="\#(id)-desc">\#(Self.escape(summary))</desc>\#(body)</svg>"#
    }

    /// A vertical scale from zero to a round number above `maximum`, with four steps.
    struct Scale {
        let top: Int64
        init(maximum: Int64) {
            var magnitude: Int64 = 1
            while magnitude <= Int64.max / 10, magnitude * 10 <= max(maximum, 1) { magnitude *= 10 }
            let steps: [Int64] = [1, 2, 4, 5, 8, 10].map { $0 * magnitude }
            top = steps.first { $0 >= max(maximum, 4) } ?? maximum
        }
        var ticks: [Int64] { (0...4).map { top / 4 * $0 } }
        func height(of value: Int64) -> Double { SVGChart.plotHeight * Double(value) / Double(max(top, 1)) }
    }

    /// `950`, `12k`, `3.4M`: axis labels that fit.
    static func compact(_ value: Int64) -> String {
        let magnitude = Double(value)
        switch abs(magnitude) {
        case 1_000_000_000...: return String(format: "%.3gB", magnitude / 1_000_000_000)
        case 1_000_000...: return String(format: "%.3gM", magnitude / 1_000_000)
        case 10_000...: return String(format: "%.3gk", magnitude / 1_000)
        default: return String(value)
        }
    }

    static func n(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
