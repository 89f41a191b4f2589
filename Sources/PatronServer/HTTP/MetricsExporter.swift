import Metrics
import Prometheus
import Synchronization

/// The process-wide Prometheus registry behind swift-metrics. The metrics system can be bootstrapped
/// only once per process, so every application built in the process (tests build many) shares it.
public final class MetricsExporter: Sendable {
    public static let shared = MetricsExporter()
    let registry: PrometheusCollectorRegistry

    private init() {
        let factory = PrometheusMetricsFactory()
        registry = factory.registry
        MetricsSystem.bootstrap(factory)
    }

    /// The metrics in the Prometheus text exposition format.
    public func exposition() -> String {
        registry.emitToString()
    }
}
