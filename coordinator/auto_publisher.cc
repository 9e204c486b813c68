#include "coordinator/auto_publisher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// The coordinator's state and blob store, read in process.
class InProcessFarmSource : public FarmSource {
 public:
  InProcessFarmSource(Coordinator* coordinator, BlobStore* blobs)
      : coordinator_(coordinator), blobs_(blobs) {}

  absl::StatusOr<v1::StatusResponse> Status(const std::string& product) override {
    return coordinator_->Status(product);
  }
  absl::StatusOr<v1::GetManifestResponse> GetManifest(const std::string& release_id) override {
    return coordinator_->GetManifest(release_id);
  }
  // Blobs are verified when stored; the publish copies them out of the store.
  absl::StatusOr<std::string> BlobPath(const Digest& digest, BlobStore*) override {
    return blobs_->PathOf(digest);
  }
  absl::Status RecordFullPackage(const v1::RecordFullPackageRequest& request) override {
    return coordinator_->RecordFullPackage(request);
  }
  absl::StatusOr<v1::RejectResultResponse> RejectResult(
      const v1::RejectResultRequest& request) override {
    return coordinator_->RejectResult(request);
  }

 private:
  Coordinator* coordinator_;
  BlobStore* blobs_;
};

}  // namespace

AutoPublisher::AutoPublisher(Coordinator* coordinator, BlobStore* blobs, PublishOptions options,
                             std::function<void(const std::string&)> log)
    : coordinator_(coordinator),
      farm_(std::make_unique<InProcessFarmSource>(coordinator, blobs)),
      options_(std::move(options)),
      log_(std::move(log)) {
  options_.farm = farm_.get();
  // A product another publish (a CLI's) holds is tried again at the next
  // pass; the others do not wait for it.
  options_.wait_for_others = false;
  thread_ = std::thread([this] { Run(); });
}

AutoPublisher::~AutoPublisher() { Stop(); }

void AutoPublisher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AutoPublisher::Run() {
  uint64_t generation = 0;
  while (!stop_) {
    coordinator_->WaitForChange(&generation, 0.5);
    // Per product: its state (releases, job states, hotfixes) and whether all is finished.
    std::map<std::string, std::pair<std::string, bool>> products;
    const v1::StatusResponse status = coordinator_->Status("");
    for (const v1::ReleaseStatus& r : status.releases()) {
      auto& [state, finished] = products.try_emplace(r.release().product(), "", true).first->second;
      absl::StrAppend(&state, r.release_id(), ":");
      for (const auto* hotfix : {&r.hotfix_files(), &r.hotfix_replacements()}) {
        for (const v1::ManifestEntry& e : *hotfix) absl::StrAppend(&state, e.path(), e.digest());
        absl::StrAppend(&state, ";");
      }
      for (const v1::JobStatus& j : r.jobs()) {
        // A job run again after its package was refused leaves its release
        // published: not waited for, and its passing states change nothing.
        const bool settled = j.state() == v1::JOB_STATE_DONE || j.state() == v1::JOB_STATE_FAILED;
        if (!settled && j.rerun()) {
          absl::StrAppend(&state, "r,");
          continue;
        }
        absl::StrAppend(&state, j.state(), ",");
        if (!settled) finished = false;
      }
      // Chained patches planned later: published when done, never waited for.
      for (const v1::JobStatus& j : r.chain_jobs()) absl::StrAppend(&state, "c", j.state(), ",");
    }
    for (const auto& [product, s] : products) {
      if (stop_) return;
      PublishIfDue(product, s.first, s.second);
    }
  }
}

void AutoPublisher::PublishIfDue(const std::string& product, const std::string& state,
                                 bool finished) {
  const absl::Time now = options_.clock->Now();
  Published& last = published_[product];
  const bool changed = last.state != state;
  const bool expiring = now - last.at >= absl::Hours(24) * options_.valid_days / 2;
  // Releases still running are not waited for when the index would expire:
  // the publish offers the finished ones.
  if (!(finished && changed) && !expiring) return;
  Retry& retry = retries_[product];
  // A change to finished releases is tried at once; job states changing
  // while releases run are not.
  if (now < retry.next && (retry.state == state || !finished)) return;
  retry.state = state;
  PublishOptions options = options_;
  options.product = product;
  absl::StatusOr<PublishReport> report = Publish(options);
  if (absl::IsAborted(report.status())) {
    if (busy_.insert(product).second) {
      Log(absl::StrCat("publishing ", product, " later: ", report.status().message()));
    }
    return;  // Another publish runs: tried again at the next pass.
  }
  busy_.erase(product);
  if (!report.ok()) {  // Tried again after a wait that doubles, up to an hour.
    retry.wait = std::min(std::max(retry.wait * 2, kFirstRetry), kLastRetry);
    retry.next = now + retry.wait;
    const std::string message(report.status().message());
    if (message != retry.logged) {
      Log(absl::StrCat("publishing ", product, " failed (tried again within ",
                       absl::FormatDuration(retry.wait), " and while it fails): ", message));
      retry.logged = message;
    }
    return;
  }
  retries_.erase(product);
  last = {state, now};
  const bool resigned = !(finished && changed);
  Log(absl::StrCat("published ", report->site, " (serial ", report->serial, ", ", report->files,
                   " files", resigned ? "; signed again before the index expires" : "", ")"));
  for (const GatedPackage& g : report->gated) {
    Log(absl::StrCat("not published ", g.channel, "/", g.name, ": ", g.bytes,
                     " bytes, the full package of ", g.to_version, " is ", g.full_bytes, " bytes"));
  }
  for (const RefusedPackage& r : report->refused) {
    Log(absl::StrCat("refused ", r.channel, "/", r.name, " (job ", r.job_id, "): it does not rebuild ",
                     r.to_version, " from ", r.from_version, ": ", EscapeControls(r.reason),
                     "; the job: ", EscapeControls(r.rerun)));
  }
  for (const std::string& note : report->notes) {
    Log(absl::StrCat("publishing ", product, ": ", note));
  }
}

}  // namespace patchfarm
