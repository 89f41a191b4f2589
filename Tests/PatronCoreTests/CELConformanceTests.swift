import Foundation
import PatronCore
import Testing

/// The CEL conformance cases in ../shared/conformance/cel, read in place.
@Suite("CEL conformance")
struct CELConformanceTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/conformance/cel").standardizedFileURL

    static var files: [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test("passes the conformance suite, failing only where docs/RULES.md says why")
    func suite() throws {
        let files = Self.files
        if files.isEmpty {
            let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
            #expect(!inCI, "the conformance folder \(Self.folder.path) is missing; under CI=true it must be there")
            if !inCI { print("skipped: no conformance cases at \(Self.folder.path)") }
            return
        }
        var failures: [String: String] = [:]
        var total = 0
        for file in files {
            for test in try CELConformance.load(file) {
                total += 1
                if let reason = CELConformance.run(test) { failures[test.path] = reason }
            }
        }
        let known = try Self.documentedFailures()
        for (path, reason) in failures.sorted(by: { $0.key < $1.key }) where !known.contains(path) {
            Issue.record("\(path): \(reason)")
        }
        for path in known.sorted() where failures[path] == nil {
            Issue.record("\(path) passes now; remove it from the list in docs/RULES.md")
        }
        let passed = total - failures.count
        print("CEL conformance: \(passed) passed, \(failures.count) failed of \(total)")
        #expect(Double(passed) >= 0.98 * Double(total))
    }

    /// The case paths listed under "Conformance cases that fail" in docs/RULES.md.
    static func documentedFailures() throws -> Set<String> {
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/RULES.md").standardizedFileURL
        let text = try String(contentsOf: rules, encoding: .utf8)
        guard let section = text.components(separatedBy: "## Conformance cases that fail").dropFirst().first else {
            return []
        }
        let body = section.components(separatedBy: "\n## ").first ?? ""
        var paths: Set<String> = []
        for line in body.split(separator: "\n") where line.hasPrefix("- `") {
            let path = line.dropFirst(3).prefix { $0 != "`" }
            paths.insert(String(path))
        }
        return paths
    }
}
