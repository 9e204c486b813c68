#include "coordinator/metrics_page.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/html.h"
#include "absl/strings/str_format.h"

namespace patchfarm {
namespace {

const char* StateLabel(v1::JobState s) {
  switch (s) {
    case v1::JOB_STATE_QUEUED: return "queued";
    case v1::JOB_STATE_LEASED: return "leased";
    case v1::JOB_STATE_DONE: return "done";
    case v1::JOB_STATE_FAILED: return "failed";
    default: return "unknown";
  }
}

// Bars of package size per old version, as inline SVG.
std::string SizeChart(const v1::ReleaseStatus& r) {
  std::vector<const v1::JobStatus*> done;
  for (const v1::JobStatus& j : r.jobs()) {
    if (j.state() == v1::JOB_STATE_DONE) done.push_back(&j);
  }
  if (done.empty()) return "";
  uint64_t max = 1;
  for (const v1::JobStatus* j : done) max = std::max<uint64_t>(max, j->package_size());
  const int bar = 18, width = 420, label = 110;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
      "aria-label=\"patch size per old version\">",
      width + label + 90, static_cast<int>(done.size()) * (bar + 4) + 4);
  int y = 2;
  for (const v1::JobStatus* j : done) {
    int w = static_cast<int>(static_cast<double>(j->package_size()) / max * width);
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"%d\" font-size=\"12\">from %s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#4a7bd0\"/>"
                          "<text x=\"%d\" y=\"%d\" font-size=\"12\">%llu B</text>",
                          y + 13, HtmlEscape(j->from_version()), label, y, std::max(w, 1), bar,
                          label + std::max(w, 1) + 4, y + 13,
                          static_cast<unsigned long long>(j->package_size()));
    y += bar + 4;
  }
  return svg + "</svg>";
}

}  // namespace

std::string PrometheusHistogram(const std::string& name, const std::string& help,
                                const Histogram& histogram) {
  std::string out = absl::StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  for (size_t i = 0; i < histogram.bounds.size(); ++i) {
    absl::StrAppend(&out, name, "_bucket{le=\"", histogram.bounds[i], "\"} ", histogram.counts[i],
                    "\n");
  }
  // The sum in full: 6 digits stop growing once it passes a million.
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", histogram.count, "\n", name, "_sum ",
                  absl::StrFormat("%.17g", histogram.sum), "\n", name, "_count ", histogram.count,
                  "\n");
  return out;
}

std::string CoordinatorMetricsText(Coordinator* coordinator, const BlobServiceImpl* blobs) {
  Coordinator::Metrics m = coordinator->GetMetrics();
  std::string out =
      "# HELP patchfarm_queue_depth Jobs waiting for a worker, by priority.\n"
      "# TYPE patchfarm_queue_depth gauge\n";
  absl::StrAppend(&out, "patchfarm_queue_depth{priority=\"one_off\"} ", m.queued_one_off, "\n",
                  "patchfarm_queue_depth{priority=\"release\"} ", m.queued_release, "\n");
  out += "# HELP patchfarm_jobs Jobs by state.\n# TYPE patchfarm_jobs gauge\n";
  for (v1::JobState s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_LEASED, v1::JOB_STATE_DONE,
                         v1::JOB_STATE_FAILED}) {
    absl::StrAppend(&out, "patchfarm_jobs{state=\"", StateLabel(s), "\"} ", m.jobs_by_state[s], "\n");
  }
  out += PrometheusHistogram("patchfarm_job_duration_seconds", "Worker time of finished jobs.",
                             m.job_seconds);
  out += PrometheusHistogram("patchfarm_patch_size_bytes", "Sizes of finished packages.",
                             m.package_bytes);
  absl::StrAppend(&out,
                  "# HELP patchfarm_blob_bytes_uploaded_total Blob bytes received.\n"
                  "# TYPE patchfarm_blob_bytes_uploaded_total counter\n"
                  "patchfarm_blob_bytes_uploaded_total ", blobs->bytes_received(), "\n",
                  "# HELP patchfarm_blob_bytes_downloaded_total Blob bytes sent.\n"
                  "# TYPE patchfarm_blob_bytes_downloaded_total counter\n"
                  "patchfarm_blob_bytes_downloaded_total ", blobs->bytes_sent(), "\n",
                  "# HELP patchfarm_workers_connected Workers seen within a lease period.\n"
                  "# TYPE patchfarm_workers_connected gauge\n"
                  "patchfarm_workers_connected ", m.workers_connected, "\n",
                  "# HELP patchfarm_lease_expiries_total Leases that ran out.\n"
                  "# TYPE patchfarm_lease_expiries_total counter\n"
                  "patchfarm_lease_expiries_total ", m.lease_expiries, "\n",
                  "# HELP patchfarm_blobs_dropped_total Blobs dropped: packages no policy keeps, uploads nothing names.\n"
                  "# TYPE patchfarm_blobs_dropped_total counter\n"
                  "patchfarm_blobs_dropped_total ", m.blobs_dropped, "\n",
                  "# HELP patchfarm_blob_bytes_dropped_total Bytes of the blobs dropped.\n"
                  "# TYPE patchfarm_blob_bytes_dropped_total counter\n"
                  "patchfarm_blob_bytes_dropped_total ", m.blob_bytes_dropped, "\n");
  return out;
}

std::string StatusPageHtml(Coordinator* coordinator) {
  v1::StatusResponse status = coordinator->Status("");
  v1::ListWorkersResponse workers = coordinator->ListWorkers();
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>patchfarm status</title>"
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px}.bar{background:#eee;width:200px;height:12px}"
      ".fill{background:#3a3;height:12px}.failed{color:#b00}</style></head><body>"
      "<h1>patchfarm</h1><h2>Releases</h2>";
  if (status.releases_size() == 0) html += "<p>No releases yet.</p>";
  for (const v1::ReleaseStatus& r : status.releases()) {
    int done = 0, failed = 0;
    for (const v1::JobStatus& j : r.jobs()) {
      done += j.state() == v1::JOB_STATE_DONE;
      failed += j.state() == v1::JOB_STATE_FAILED;
    }
    int total = r.jobs_size();
    int percent = total == 0 ? 100 : 100 * (done + failed) / total;
    absl::StrAppendFormat(&html,
                          "<section class=\"release\"><h3>%s%s</h3><p>%d of %d jobs done%s</p>"
                          "<div class=\"bar\"><div class=\"fill\" style=\"width:%d%%\"></div></div>%s",
                          HtmlEscape(r.release_id()), r.intermediate() ? " (intermediate)" : "", done,
                          total,
                          failed ? absl::StrCat(", <span class=\"failed\">", failed, " failed</span>") : "",
                          percent, SizeChart(r));
    html += "</section>";
  }
  html += "<h2>Workers</h2><table><tr><th>worker</th><th>state</th><th>seen</th><th>jobs</th><th>done</th></tr>";
  for (const v1::WorkerInfo& w : workers.workers()) {
    std::string jobs;
    for (const std::string& j : w.job_ids()) absl::StrAppend(&jobs, jobs.empty() ? "" : " ", HtmlEscape(j));
    absl::StrAppendFormat(&html, "<tr><td>%s</td><td>%s</td><td>%.1f s ago</td><td>%s</td><td>%llu</td></tr>",
                          HtmlEscape(w.worker_id()), w.draining() ? "draining" : "active",
                          w.seconds_since_seen(), jobs, static_cast<unsigned long long>(w.jobs_done()));
  }
  return html + "</table></body></html>\n";
}

}  // namespace patchfarm
