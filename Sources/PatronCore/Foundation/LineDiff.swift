/// The difference between two texts line by line: the longest common subsequence of their lines,
/// and what the second removed from and added to the first around it.
public enum LineDiff {
    public enum Line: Sendable, Hashable {
        case same(String)
        case removed(String)
        case added(String)
    }

    /// The lines of `old` and `new` in order, each kept, removed or added. Quadratic in the number
    /// of lines, which suits documents of a few thousand lines.
    public static func lines(from old: [String], to new: [String]) -> [Line] {
        // Common prefix and suffix first: most edits touch a few lines in the middle.
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix,
              old[old.count - 1 - suffix] == new[new.count - 1 - suffix] { suffix += 1 }
        let a = Array(old[prefix..<(old.count - suffix)]), b = Array(new[prefix..<(new.count - suffix)])
        // lengths[i][j]: the longest common subsequence of a[i...] and b[j...].
        var lengths = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var result = old[..<prefix].map(Line.same)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                result.append(.same(a[i]))
                i += 1
                j += 1
            } else if i < a.count, j == b.count || lengths[i + 1][j] >= lengths[i][j + 1] {
                // On a tie the removal comes first, as diffs show a replaced line.
                result.append(.removed(a[i]))
                i += 1
            } else {
                result.append(.added(b[j]))
                j += 1
            }
        }
        result += old[(old.count - suffix)...].map(Line.same)
        return result
    }
}
