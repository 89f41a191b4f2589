/// Lowercase hexadecimal text of bytes, as Patron writes ids and hashes. Table-driven: it runs for
/// every id and fingerprint on the hot path, where `String(format:)` per byte was a measured cost.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The ASCII digit of a value below 16.
    public static func digit(_ value: UInt8) -> UInt8 {
        digits[Int(value & 0x0F)]
    }
}
