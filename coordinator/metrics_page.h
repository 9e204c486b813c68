// The coordinator's operator endpoints over HTTP: /metrics in the Prometheus
// text exposition format, and / a status page (releases with their job
// progress, workers, and an SVG chart of patch size per old version for each
// release; no external assets).
#ifndef PATCHFARM_COORDINATOR_METRICS_PAGE_H_
#define PATCHFARM_COORDINATOR_METRICS_PAGE_H_

#include <string>

#include "coordinator/coordinator.h"
#include "coordinator/histogram.h"
#include "coordinator/grpc_services.h"

namespace patchfarm {

std::string CoordinatorMetricsText(Coordinator* coordinator, const BlobServiceImpl* blobs);
std::string StatusPageHtml(Coordinator* coordinator);

// Prometheus histogram lines for `histogram`.
std::string PrometheusHistogram(const std::string& name, const std::string& help,
                                const Histogram& histogram);

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_METRICS_PAGE_H_
