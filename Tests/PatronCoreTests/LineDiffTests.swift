import PatronCore
import Testing

@Suite("Line diff")
struct LineDiffTests {
    typealias L = LineDiff.Line

    @Test("keeps what is common and marks what was removed and added")
    func changes() {
        #expect(LineDiff.lines(from: ["a", "b", "c"], to: ["a", "x", "c"]) == [.same("a"), .removed("b"), .added("x"), .same("c")])
        #expect(LineDiff.lines(from: [], to: ["a"]) == [.added("a")])
        #expect(LineDiff.lines(from: ["a"], to: []) == [.removed("a")])
        #expect(LineDiff.lines(from: ["a", "b"], to: ["a", "b"]) == [.same("a"), .same("b")])
        #expect(LineDiff.lines(from: ["x", "a", "b", "c"], to: ["a", "b", "c", "y"])
            == [.removed("x"), .same("a"), .same("b"), .same("c"), .added("y")])
    }

    static func before(_ line: L) -> String? {
        switch line {
        case .same(let text), .removed(let text): text
        case .added: nil
        }
    }

    static func after(_ line: L) -> String? {
        switch line {
        case .same(let text), .added(let text): text
        case .removed: nil
        }
    }

    @Test("rebuilds both texts from its lines, for random edits")
    func roundTrip() {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let old = (0..<Int(random.next() % 12)).map { _ in String(random.next() % 5) }
            let new = (0..<Int(random.next() % 12)).map { _ in String(random.next() % 5) }
            let diff = LineDiff.lines(from: old, to: new)
            #expect(diff.compactMap(Self.before) == old)
            #expect(diff.compactMap(Self.after) == new)
        }
    }
}
