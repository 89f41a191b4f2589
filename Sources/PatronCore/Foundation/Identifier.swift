import Foundation

/// Identifiers that Patron generates: UUIDv7 (RFC 9562), so that they sort by creation time both as
/// bytes and as their lowercase text.
public enum Identifier {
    /// A new UUIDv7 string for the given instant.
    public static func make(at date: Date) -> String {
        var generator = SystemRandom()
        return make(at: date, using: &generator)
    }

    /// A new UUIDv7 string, with randomness from `generator` (seeded generators make tests repeatable).
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down)))
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        // Bytes 0-5 the time, big-endian; 6-15 random, with the version and variant bits set.
        func byte(_ index: Int) -> UInt8 {
            switch index {
            case 0..<6: return UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index)))
            case 6: return (UInt8(truncatingIfNeeded: random.0 >> 48) & 0x0F) | 0x70  // version 7
            case 8: return (UInt8(truncatingIfNeeded: random.0) & 0x3F) | 0x80  // RFC 9562 variant
            default:
                let word = index < 11 ? random.0 : random.1
                return UInt8(truncatingIfNeeded: word >> (8 * (index % 8)))
            }
        }
        return String(unsafeUninitializedCapacity: 36) { text in
            var position = 0
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[position] = UInt8(ascii: "-")
                    position += 1
                }
                let value = byte(index)
                text[position] = Hex.digit(value >> 4)
                text[position + 1] = Hex.digit(value)
                position += 2
            }
            return position
        }
    }

    /// Whether the text has the shape of an identifier Patron generates (lowercase canonical UUID).
    public static func isWellFormed(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)) {
                return false
            }
        }
        return true
    }
}
