// The coordinator's construction, its state loaded from the Store at start,
// and the helpers the other coordinator_*.cc files share: manifests read
// through a cache, job records written, change notification.
#include "coordinator/coordinator.h"

#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "coordinator/store_keys.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/unknown_field_set.h"

namespace patchfarm {
namespace {

using coordinator_keys::Hex;
using coordinator_keys::kJobPrefix;
using coordinator_keys::kManifestPrefix;
using coordinator_keys::kNextSeqKey;
using coordinator_keys::kPolicyPrefix;
using coordinator_keys::kReleasePrefix;

// Parses a job record that protobuf refuses because its error is not UTF-8:
// before 67ad639 a worker's error was cut at 2000 bytes, possibly inside a
// character. The error is cut before that character, and the record parsed
// again. False if it is unreadable for another reason.
bool ParseWithErrorCut(absl::string_view value, v1::StoredJob* job) {
  constexpr int kStatusField = 1, kErrorField = 7;  // StoredJob.status, JobStatus.error.
  google::protobuf::UnknownFieldSet record;
  if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
  for (int i = 0; i < record.field_count(); ++i) {
    google::protobuf::UnknownField* status = record.mutable_field(i);
    if (status->number() != kStatusField ||
        status->type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet fields;
    if (!fields.ParseFromString(status->length_delimited())) return false;
    for (int k = 0; k < fields.field_count(); ++k) {
      google::protobuf::UnknownField* field = fields.mutable_field(k);
      if (field->number() != kErrorField ||
          field->type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      std::string* error = field->mutable_length_delimited();
      error->resize(Utf8Prefix(*error, error->size()).size());
    }
    fields.SerializeToString(status->mutable_length_delimited());
  }
  std::string again;
  return record.SerializeToString(&again) && job->ParseFromString(again);
}

}  // namespace

Coordinator::Coordinator(Store* store, BlobStore* blobs, const Clock* clock,
                         CoordinatorOptions options)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      options_(std::move(options)),
      manifests_(options_.cached_manifest_entries),
      dropper_(blobs, blobs->file_system(), [this](const std::string& line) { LogLocked(line); }) {
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(Store* store, BlobStore* blobs,
                                                                 const Clock* clock,
                                                                 CoordinatorOptions options) {
  if (!options.lease_ids) {
    // From OpenSSL's generator: a Mersenne twister's ids could be predicted
    // from the ids a worker sees (its own, and the log's).
    options.lease_ids = [] {
      uint64_t id = 0;
      if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1) {
        std::fprintf(stderr, "patchfarm-coordinator: OpenSSL's RAND_bytes failed\n");
        std::abort();  // No lease can be handed out safely.
      }
      return id;
    };
  }
  std::unique_ptr<Coordinator> c(new Coordinator(store, blobs, clock, options));
  PF_RETURN_IF_ERROR(c->Load());
  return c;
}

std::string Coordinator::JobIdOf(const std::string& old_digest, const std::string& new_digest) {
  return coordinator_keys::JobId(kEngineFormat, old_digest, new_digest);
}

absl::Status Coordinator::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status parse = absl::OkStatus();
  PF_RETURN_IF_ERROR(store_->Scan(kReleasePrefix, [&](absl::string_view key, absl::string_view value) {
    v1::StoredRelease r;
    if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
      return false;
    }
    releases_[std::string(key.substr(sizeof(kReleasePrefix) - 1))] = std::move(r);
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  const absl::Duration now = clock_->Monotonic();
  std::vector<StoreWrite> repaired;
  PF_RETURN_IF_ERROR(store_->Scan(kJobPrefix, [&](absl::string_view key, absl::string_view value) {
    v1::StoredJob j;
    if (!j.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      if (!ParseWithErrorCut(value, &j)) {
        parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
        return false;
      }
      repaired.push_back({std::string(key), j.SerializeAsString()});
    }
    const std::string& id = j.status().job_id();
    if (j.status().state() == v1::JOB_STATE_LEASED) {
      // Its worker may still finish it; if it stays silent the lease runs out.
      leases_[id] = Lease{j.status().worker_id(), j.lease_id(), now + options_.lease};
      WorkerState& worker = workers_[j.status().worker_id()];  // Listed, drained as before.
      worker.last_seen = now;
      worker.jobs.insert(id);
    }
    if (j.status().state() == v1::JOB_STATE_DONE) {
      job_seconds_.Observe(j.status().seconds());
      package_bytes_.Observe(static_cast<double>(j.status().package_size()));
    }
    jobs_[id] = std::move(j);
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  if (!repaired.empty()) PF_RETURN_IF_ERROR(store_->Write(repaired, /*sync=*/true));
  // A child failed for good whose pair was not written after it (a crash
  // between the two writes) fails its pair now, as it would have then.
  for (const auto& [id, job] : jobs_) {
    if (!job.parent_job_id().empty() && job.status().state() == v1::JOB_STATE_FAILED) {
      SegmentFinishedLocked(job);
    }
  }
  for (const auto& [id, job] : jobs_) QueueLocked(job);  // Split pairs once their segments are known.
  PF_RETURN_IF_ERROR(store_->Scan(kPolicyPrefix, [&](absl::string_view key, absl::string_view value) {
    v1::PolicyRequest p;
    if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
      return false;
    }
    // Fields a record from before they existed lacks take the default.
    absl::StatusOr<Policy> policy = MergePolicy(options_.policy, p);
    if (!policy.ok()) {
      parse = absl::DataLossError(absl::StrCat("record ", key, ": ", policy.status().message()));
      return false;
    }
    policies_[p.product()] = *policy;
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  PF_ASSIGN_OR_RETURN(std::optional<std::string> seq, store_->Get(kNextSeqKey));
  if (seq && !absl::SimpleAtoi(*seq, &next_seq_)) return absl::DataLossError("bad meta/next_seq");
  ApplyRetentionLocked("");  // The policies may have aged things out while it was down.
  return absl::OkStatus();
}

void Coordinator::LogLocked(const std::string& line) {
  if (!options_.log) return;
  options_.log(EscapeControls(line));
}

void Coordinator::ChangedLocked() {
  ++generation_;
  changed_.notify_all();
}

void Coordinator::WaitForChange(uint64_t* generation, double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                    [&] { return generation_ != *generation; });
  *generation = generation_;
}

absl::StatusOr<std::shared_ptr<const v1::StoredManifest>> Coordinator::ManifestLocked(
    const std::string& digest, bool cache) {
  if (std::shared_ptr<const v1::StoredManifest> cached =
          cache ? manifests_.Find(digest) : manifests_.Peek(digest)) {
    return cached;
  }
  PF_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->Get(kManifestPrefix + Hex(digest)));
  auto m = std::make_shared<v1::StoredManifest>();
  if (!value || !m->ParseFromString(*value)) {
    return absl::DataLossError(absl::StrCat("manifest ", Hex(digest), " missing or unreadable"));
  }
  if (cache) manifests_.Insert(digest, m);
  return std::shared_ptr<const v1::StoredManifest>(m);
}

absl::Status Coordinator::PersistJobLocked(const v1::StoredJob& job, bool sync) {
  return store_->Write({{kJobPrefix + job.status().job_id(), job.SerializeAsString()}}, sync);
}

v1::JobStatus Coordinator::JobStatusLocked(const v1::StoredJob& job) const {
  v1::JobStatus status = job.status();
  if (status.state() == v1::JOB_STATE_DONE) return status;
  uint32_t parts = 0, done = 0;
  for (const auto* ids : {&job.index_job_ids(), &job.segment_job_ids()}) {
    for (const std::string& id : *ids) {
      auto it = jobs_.find(id);
      ++parts;
      done += it != jobs_.end() && it->second.status().state() == v1::JOB_STATE_DONE;
    }
  }
  status.set_split_jobs(parts);
  status.set_split_jobs_done(done);
  return status;
}

}  // namespace patchfarm
