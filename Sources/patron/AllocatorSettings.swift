#if canImport(Glibc)
import CGlibcMalloc
#endif

/// How glibc's allocator keeps memory that is freed, set once when the server starts.
///
/// Under load, memory freed on the server's threads (most of it by SQLite's page caches) sat at the
/// top of a thread's heap, and glibc handed it back to the kernel (`madvise`) as soon as more than
/// 128 KiB was free there, only for the next use to take it again and fault every page back in:
/// 6.6 page faults an event, about a twentieth of the server's CPU (docs/PERFORMANCE.md). Setting
/// any of these turns off glibc's sliding thresholds, so they are set together. The resident size
/// after a benchmark run was the same either way.
enum AllocatorSettings {
    /// Free memory at the top of a heap before it goes back to the kernel (glibc's default: 128 KiB).
    static let trimThresholdBytes: Int32 = 32 << 20
    /// Extra memory taken whenever a heap grows, so it grows in fewer steps (default: none).
    static let topPadBytes: Int32 = 4 << 20
    /// Requests from this size on are mapped on their own rather than taken from a heap.
    static let mmapThresholdBytes: Int32 = 4 << 20

    /// Applies the settings to this process; nothing where the C library is not glibc.
    static func apply() {
        #if canImport(Glibc)
        _ = mallopt(M_TRIM_THRESHOLD, trimThresholdBytes)
        _ = mallopt(M_TOP_PAD, topPadBytes)
        _ = mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes)
        #endif
    }
}
