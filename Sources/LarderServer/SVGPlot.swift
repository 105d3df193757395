import Foundation
import LarderCore
import LarderEngine

/// Plots for the catalog's pages, drawn on the server as inline SVG: a bar histogram, a line
/// of points over time, and the lineage graph. Every text placed in the SVG goes through
/// ``escape(_:)``; the pages embed the result as markup (the one place they do).
enum SVGPlot {
    /// `text` safe inside an SVG or HTML element or a quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters are not allowed in XML 1.0 text; they would end the page's
                // parse in a strict reader.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" { out += "\u{FFFD}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// A number with at most `digits` significant digits, without a trailing `.0`.
    static func number(_ value: Double, digits: Int = 4) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "∞" : "-∞") }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        let text = String(format: "%.\(digits)g", value)
        return text
    }

    /// A tick value with as many decimals as its ticks' step needs (`0.00015`, not `1.5e-04`).
    static func tickNumber(_ value: Double, in ticks: [Double]) -> String {
        let step = ticks.count > 1 ? abs(ticks[1] - ticks[0]) : abs(value)
        guard step > 0, step.isFinite, value.isFinite else { return number(value) }
        let decimals = min(12, max(0, -Int(floor(log10(step)))))
        return String(format: "%.\(decimals)f", value)
    }

    /// Tick values at a round step (1, 2 or 5 times a power of ten), about `count` of them,
    /// from the last one at or below `low` to the first one at or above `high`.
    static func ticks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        guard low.isFinite, high.isFinite else { return [] }
        if high <= low { return [low] }
        let raw = (high - low) / Double(max(1, count))
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw * (1 - 1e-9) } ?? raw
        let first = (low / step * (1 + 1e-12)).rounded(.down)
        let last = (high / step * (1 - 1e-12)).rounded(.up)
        guard last - first < 1000 else { return [low, high] }
        return stride(from: first, through: last, by: 1).map { index in
            let value = index * step
            // 0.30000000000000004 as 0.3: round to the step's decimals.
            let decimals = max(0, -Int(floor(log10(step))))
            let scale = pow(10, Double(decimals))
            return (value * scale).rounded() / scale
        }
    }

    /// Ticks for durations in seconds, at round numbers of seconds, minutes, hours or days.
    static func durationTicks(_ low: Double, _ high: Double) -> [Double] {
        let unit = [86_400.0, 3_600, 60].first { max(abs(low), abs(high)) >= 2 * $0 } ?? 1
        return ticks(low / unit, high / unit).map { $0 * unit }
    }

    /// Ticks for instants in microseconds within `low...high`, at whole minutes, hours or
    /// days (UTC), about four of them.
    static func timeTicks(_ low: Double, _ high: Double) -> [Double] {
        guard high > low else { return [low] }
        let minute = 60_000_000.0
        let steps = [1, 5, 15, 30, 60, 180, 360, 720, 1_440, 2_880, 10_080, 43_200].map { $0 * minute }
        let step = steps.first { (high - low) / $0 <= 5 } ?? (high - low) / 4
        var value = (low / step).rounded(.up) * step
        var out: [Double] = []
        while value <= high, out.count < 50 {
            out.append(value)
            value += step
        }
        return out
    }

    // MARK: Bars

    /// One bar: its label (under it) and its height.
    struct Bar {
        var label: String
        var value: Double
    }

    /// A bar chart of `bars` with a labelled value axis; bar labels are thinned to stay
    /// readable. `title` is the accessible name.
    static func bars(_ bars: [Bar], title: String, xLabel: String, yLabel: String, width: Int = 640, height: Int = 260) -> String {
        let (left, right, top, bottom) = (56.0, 12.0, 12.0, 56.0)
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom
        let maximum = max(bars.map(\.value).filter(\.isFinite).max() ?? 0, 1e-12)
        let yTicks = ticks(0, maximum)
        let yMax = max(yTicks.last ?? maximum, maximum)  // the ticks cover the tallest bar
        var svg = header(width: width, height: height, title: title)
        svg += axes(left: left, top: top, width: plotWidth, height: plotHeight)
        for tick in yTicks {
            let y = top + plotHeight - tick / yMax * plotHeight
            svg += gridLine(x1: left, y1: y, x2: left + plotWidth, y2: y)
            svg += text(tickNumber(tick, in: yTicks), x: left - 6, y: y + 4, anchor: "end")
        }
        let slot = plotWidth / Double(max(1, bars.count))
        // Under each bar its lower edge (`0.25` of `0.25 – 0.5`), as many as fit side by side;
        // the whole label is in the bar's tooltip.
        let tickLabels = bars.map { shorten(String($0.label.components(separatedBy: " – ")[0]), to: 10) }
        let widest = Double(tickLabels.map(\.count).max() ?? 1) * 6.6 + 8
        let every = max(1, Int((widest / slot).rounded(.up)))
        for (i, bar) in bars.enumerated() {
            let value = bar.value.isFinite ? max(0, bar.value) : 0
            let h = value / yMax * plotHeight
            let x = left + Double(i) * slot + slot * 0.1
            svg +=
                "<rect class=\"bar\" x=\"\(f(x))\" y=\"\(f(top + plotHeight - h))\" width=\"\(f(slot * 0.8))\" height=\"\(f(h))\"><title>\(escape(bar.label)): \(escape(number(bar.value)))</title></rect>"
            if i % every == 0 {
                svg += text(tickLabels[i], x: x + slot * 0.4, y: top + plotHeight + 16, anchor: "middle")
            }
        }
        svg += text(xLabel, x: left + plotWidth / 2, y: Double(height) - bottom / 4, anchor: "middle", className: "axis-label")
        svg += verticalLabel(yLabel, x: 14, y: top + plotHeight / 2)
        return svg + "</svg>"
    }

    // MARK: Lines

    /// A point of a line plot; `label` names it in its tooltip.
    struct Point {
        var x: Double
        var y: Double
        var label: String
    }

    /// Points joined by a line, with labelled axes: x ticks from `xTicks` labelled by
    /// `xTick`, y ticks from `yTicks` (covering the values, and `yMinimum` when given)
    /// labelled by `yTick` (by default with the decimals their step needs); `guides` are dashed horizontal lines with a label, drawn when
    /// within the y range.
    static func line(
        _ points: [Point], title: String, xLabel: String, yLabel: String,
        xTicks: (Double, Double) -> [Double] = { ticks($0, $1, count: 4) },
        xTick: (Double) -> String, yTicks: (Double, Double) -> [Double] = { ticks($0, $1) }, yTick: ((Double) -> String)? = nil,
        yMinimum: Double? = 0, guides: [(value: Double, label: String)] = [], width: Int = 640, height: Int = 260
    ) -> String {
        let (left, right, top, bottom) = (76.0, 24.0, 12.0, 56.0)
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom
        let finite = points.filter { $0.x.isFinite && $0.y.isFinite }
        var (x0, x1) = (finite.map(\.x).min() ?? 0, finite.map(\.x).max() ?? 1)
        var (y0, y1) = (finite.map(\.y).min() ?? 0, finite.map(\.y).max() ?? 1)
        if let yMinimum { y0 = min(y0, yMinimum) }
        if x1 <= x0 {
            let pad = max(abs(x0) * 1e-3, 1)
            (x0, x1) = (x0 - pad, x1 + pad)
        } else {
            let pad = (x1 - x0) * 0.04
            (x0, x1) = (x0 - pad, x1 + pad)
        }
        if y1 <= y0 { y1 = y0 + max(1, abs(y0)) }
        let yValues = yTicks(y0, y1)
        y0 = min(y0, yValues.first ?? y0)
        y1 = max(y1, yValues.last ?? y1)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (y - y0) / (y1 - y0) * plotHeight }
        var svg = header(width: width, height: height, title: title)
        svg += axes(left: left, top: top, width: plotWidth, height: plotHeight)
        for tick in yValues {
            svg += gridLine(x1: left, y1: py(tick), x2: left + plotWidth, y2: py(tick))
            svg += text(yTick?(tick) ?? tickNumber(tick, in: yValues), x: left - 6, y: py(tick) + 4, anchor: "end")
        }
        var drawn: [Double] = []
        for guide in guides.sorted(by: { $0.value > $1.value }) where guide.value >= y0 && guide.value <= y1 {
            // Guides closer than a label's height would overprint: the higher one is kept.
            guard !drawn.contains(where: { abs($0 - py(guide.value)) < 14 }) else { continue }
            drawn.append(py(guide.value))
            svg +=
                "<line class=\"guide\" x1=\"\(f(left))\" y1=\"\(f(py(guide.value)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(guide.value)))\"/>"
            svg += text(guide.label, x: left + plotWidth - 4, y: py(guide.value) - 4, anchor: "end", className: "guide-label")
        }
        var xValues = finite.count == 1 ? [finite[0].x] : xTicks(x0, x1).filter { $0 >= x0 && $0 <= x1 }
        // Points closer than the ticks' step (runs within a minute): label the first and last.
        if xValues.isEmpty, let first = finite.first, let last = finite.last {
            xValues = first.x == last.x ? [first.x] : [first.x, last.x]
        }
        for tick in xValues {
            svg +=
                "<line class=\"tick\" x1=\"\(f(px(tick)))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px(tick)))\" y2=\"\(f(top + plotHeight + 4))\"/>"
            svg += text(xTick(tick), x: px(tick), y: top + plotHeight + 18, anchor: "middle")
        }
        if finite.count > 1 {
            svg += "<polyline class=\"line\" points=\"" + finite.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ") + "\"/>"
        }
        for point in finite {
            svg +=
                "<circle class=\"point\" cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3.5\"><title>\(escape(point.label))</title></circle>"
        }
        svg += text(xLabel, x: left + plotWidth / 2, y: Double(height) - bottom / 4, anchor: "middle", className: "axis-label")
        svg += verticalLabel(yLabel, x: 14, y: top + plotHeight / 2)
        return svg + "</svg>"
    }

    // MARK: Lineage

    /// The lineage as boxes in columns (sources, feature views, on-demand views, services)
    /// joined by arrows; each box links to `url(node)`, the box of `current` is marked.
    static func lineage(_ lineage: CatalogLineage, current: String, url: (CatalogLineageNode) -> String) -> String {
        let columns = Array(Set(lineage.nodes.map(\.column))).sorted()
        let titles = [0: "Source", 1: "Feature view", 2: "On-demand views", 3: "Feature services"]
        let (boxWidth, boxHeight, gapX, gapY, top, left) = (190.0, 44.0, 70.0, 14.0, 30.0, 8.0)
        var position: [String: (x: Double, y: Double)] = [:]
        var rows = 0
        for (c, column) in columns.enumerated() {
            let nodes = lineage.nodes.filter { $0.column == column }
            rows = max(rows, nodes.count)
            for (r, node) in nodes.enumerated() {
                position[node.id] = (left + Double(c) * (boxWidth + gapX), top + Double(r) * (boxHeight + gapY))
            }
        }
        let width = Int(left * 2 + Double(columns.count) * boxWidth + Double(max(0, columns.count - 1)) * gapX)
        let height = Int(top + Double(rows) * (boxHeight + gapY) + 4)
        var svg = header(width: width, height: height, title: "Lineage of \(current)", className: "lineage")
        svg +=
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" class=\"arrowhead\"/></marker></defs>"
        for (c, column) in columns.enumerated() {
            svg += text(titles[column] ?? "", x: left + Double(c) * (boxWidth + gapX), y: 16, anchor: "start", className: "column-title")
        }
        for edge in lineage.edges {
            guard let from = position[edge.from], let to = position[edge.to] else { continue }
            let (x1, y1) = (from.x + boxWidth, from.y + boxHeight / 2)
            let (x2, y2) = (to.x - 2, to.y + boxHeight / 2)
            let bend = (x2 - x1) / 2
            svg +=
                "<path class=\"edge\" d=\"M \(f(x1)) \(f(y1)) C \(f(x1 + bend)) \(f(y1)), \(f(x2 - bend)) \(f(y2)), \(f(x2)) \(f(y2))\" marker-end=\"url(#arrow)\"/>"
        }
        let kinds = [
            "source": "source", "feature_view": "feature view", "on_demand_view": "on-demand view", "feature_service": "feature service",
        ]
        for node in lineage.nodes {
            guard let at = position[node.id] else { continue }
            let link = escape(url(node))
            let marked = node.name == current && node.kind != "source" && node.kind != "feature_service"
            svg += "<a href=\"\(link)\" xlink:href=\"\(link)\"><g class=\"node\(marked ? " current" : "")\">"
            svg += "<title>\(escape("\(kinds[node.kind] ?? node.kind) \(node.name)"))</title>"
            svg +=
                "<rect x=\"\(f(at.x))\" y=\"\(f(at.y))\" width=\"\(f(boxWidth))\" height=\"\(f(boxHeight))\" rx=\"6\"/>"
            svg += text(kinds[node.kind] ?? node.kind, x: at.x + 10, y: at.y + 16, anchor: "start", className: "node-kind")
            svg += text(shorten(node.name, to: 24), x: at.x + 10, y: at.y + 34, anchor: "start", className: "node-name")
            svg += "</g></a>"
        }
        return svg + "</svg>"
    }

    // MARK: Pieces

    static func header(width: Int, height: Int, title: String, className: String = "plot") -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" class=\"\(className)\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(title))\"><title>\(escape(title))</title>"
    }

    static func axes(left: Double, top: Double, width: Double, height: Double) -> String {
        "<path class=\"axis\" d=\"M \(f(left)) \(f(top)) V \(f(top + height)) H \(f(left + width))\"/>"
    }

    static func gridLine(x1: Double, y1: Double, x2: Double, y2: Double) -> String {
        "<line class=\"grid\" x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\"/>"
    }

    static func text(_ content: String, x: Double, y: Double, anchor: String, className: String = "tick-label") -> String {
        "<text class=\"\(className)\" x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\">\(escape(content))</text>"
    }

    static func verticalLabel(_ content: String, x: Double, y: Double) -> String {
        "<text class=\"axis-label\" x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(x)) \(f(y)))\">\(escape(content))</text>"
    }

    /// `text` cut to `count` characters, with an ellipsis when cut.
    static func shorten(_ text: String, to count: Int) -> String {
        text.count <= count ? text : String(text.prefix(count - 1)) + "…"
    }

    /// A coordinate with one decimal.
    static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}

extension SVGPlot {
    /// `11-24 21:00` (UTC) for a plot's time axis; with `seconds`, `21:00:05`.
    static func timeTick(microseconds: Double, seconds: Bool = false) -> String {
        let text = Timestamp(microseconds: Int64(microseconds.rounded(.down))).description
        // 2026-11-24T21:00:05.25Z -> 11-24 21:00, or 21:00:05
        if seconds { return String(text.dropFirst(11).prefix(8)) }
        return String(text.dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ")
    }

    /// A duration in seconds, compactly (`3h12m`, `45s`).
    static func durationTick(seconds: Double) -> String {
        guard seconds.isFinite else { return "" }
        if seconds < 0 { return "-" + durationTick(seconds: -seconds) }
        if seconds < 1 { return number(seconds, digits: 2) + "s" }
        let us = Int64(seconds.rounded()) * 1_000_000
        return Duration.compact(microseconds: us)
    }
}
