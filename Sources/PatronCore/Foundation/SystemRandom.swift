#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The operating system's cryptographically secure random numbers, fetched a block at a time.
///
/// `SystemRandomNumberGenerator` asks the kernel (`getrandom`) for every 64-bit word: each
/// identifier took two system calls, and an event's four identifiers eight
/// (docs/PERFORMANCE.md). This hands out the same kernel output in order, each word once, and asks
/// the kernel again when a block of `blockWords` is used up.
public struct SystemRandom: RandomNumberGenerator, Sendable {
    /// Words fetched from the kernel at a time: 256 bytes, the most `getentropy` gives in one call.
    public static let blockWords = 32

    public init() {}

    public mutating func next() -> UInt64 {
        Self.block.withLock { $0.next() }
    }

    private static let block = Mutex(Block())

    private struct Block {
        var words = [UInt64](repeating: 0, count: SystemRandom.blockWords)
        var used = SystemRandom.blockWords

        mutating func next() -> UInt64 {
            if used == words.count { refill() }
            defer { used += 1 }
            return words[used]
        }

        private mutating func refill() {
            let filled = words.withUnsafeMutableBytes { bytes in Self.fillFromKernel(bytes) }
            if !filled {
                var system = SystemRandomNumberGenerator()
                for index in words.indices { words[index] = system.next() }
            }
            used = 0
        }

        /// Fills `bytes` (at most 256) from the kernel's generator; false if it cannot (then the
        /// caller asks word by word).
        private static func fillFromKernel(_ bytes: UnsafeMutableRawBufferPointer) -> Bool {
            getentropy(bytes.baseAddress!, bytes.count) == 0
        }
    }
}
