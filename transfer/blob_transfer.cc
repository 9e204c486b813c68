#include "transfer/blob_transfer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/file.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr int kDigestsPerCall = 10000;

// Sends `source`, blob `digest`, from `offset` on; `name` says what it is in
// errors.
absl::Status UploadOne(v1::BlobService::Stub* stub, const Digest& digest,
                       const ByteSource& source, const std::string& name, uint64_t offset,
                       UploadStats* stats) {
  // More bytes than the blob has were sent under its name (with another
  // size): the coordinator drops them, and the upload starts over.
  if (offset > source.size()) offset = 0;
  grpc::ClientContext context;
  v1::UploadResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadChunk>> writer(stub->Upload(&context, &response));
  std::string buffer(kChunkBytes, '\0');
  bool first = true;
  while (first || offset < source.size()) {
    PF_ASSIGN_OR_RETURN(size_t n, source.ReadAt(offset, buffer.data(), buffer.size()));
    v1::UploadChunk chunk;
    if (first) {
      chunk.set_digest(DigestBytes(digest));
      chunk.set_size(source.size());
      chunk.set_offset(offset);
    }
    chunk.set_data(buffer.data(), n);
    if (!writer->Write(chunk)) break;  // The server ended early: its status says why.
    offset += n;
    stats->bytes_sent += n;
    first = false;
    if (n == 0) break;
  }
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("uploading ", name, ": ", status.message()));
  }
  ++stats->uploaded;
  return absl::OkStatus();
}

// The digests of `batch` (at most kDigestsPerCall) that the coordinator
// lacks, with the bytes it holds of each.
absl::StatusOr<std::vector<std::pair<Digest, uint64_t>>> FindMissing(
    v1::BlobService::Stub* stub, absl::Span<const Digest> batch) {
  v1::FindMissingRequest request;
  for (const Digest& digest : batch) request.add_digests(DigestBytes(digest));
  grpc::ClientContext context;
  v1::FindMissingResponse response;
  PF_RETURN_IF_ERROR(FromGrpcStatus(stub->FindMissing(&context, request, &response)));
  std::vector<std::pair<Digest, uint64_t>> missing;
  for (const v1::MissingBlob& m : response.missing()) {
    Digest digest;
    PF_RETURN_IF_ERROR(ParseDigest(m.digest(), &digest));
    missing.emplace_back(digest, m.received_bytes());
  }
  return missing;
}

// UploadOne from `offset`, the bytes the coordinator held when asked; if it
// no longer holds them (it drops uploads not resumed for a day, and a batch
// may take that long), asked again and resumed once from what it holds.
absl::Status UploadResuming(v1::BlobService::Stub* stub, const Digest& digest,
                            const ByteSource& source, const std::string& name, uint64_t offset,
                            UploadStats* stats) {
  absl::Status sent = UploadOne(stub, digest, source, name, offset, stats);
  if (!absl::IsFailedPrecondition(sent)) return sent;
  PF_ASSIGN_OR_RETURN(auto missing, FindMissing(stub, absl::MakeConstSpan(&digest, 1)));
  if (missing.empty()) return absl::OkStatus();  // Another client sent it meanwhile.
  return UploadOne(stub, digest, source, name, missing[0].second, stats);
}

}  // namespace

absl::Status UploadMissing(v1::BlobService::Stub* stub, const std::map<Digest, std::string>& files,
                           UploadStats* stats) {
  UploadStats local;
  if (stats == nullptr) stats = &local;
  std::vector<Digest> all;
  for (const auto& [digest, path] : files) all.push_back(digest);
  stats->blobs += all.size();
  // Each batch is sent before the next is asked about: the bytes the
  // coordinator holds of a blob are read just before it is resumed.
  for (size_t start = 0; start < all.size(); start += kDigestsPerCall) {
    const size_t count = std::min<size_t>(kDigestsPerCall, all.size() - start);
    PF_ASSIGN_OR_RETURN(auto missing, FindMissing(stub, absl::MakeConstSpan(&all[start], count)));
    for (const auto& [digest, received] : missing) {
      auto it = files.find(digest);
      if (it == files.end()) return absl::InternalError("coordinator named a blob not asked about");
      PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(it->second));
      PF_RETURN_IF_ERROR(UploadResuming(stub, digest, *source, it->second, received, stats));
    }
  }
  return absl::OkStatus();
}

absl::Status UploadSourceIfMissing(v1::BlobService::Stub* stub, const Digest& digest,
                                   const ByteSource& source, UploadStats* stats) {
  UploadStats local;
  if (stats == nullptr) stats = &local;
  ++stats->blobs;
  PF_ASSIGN_OR_RETURN(auto missing, FindMissing(stub, absl::MakeConstSpan(&digest, 1)));
  for (const auto& [named, received] : missing) {
    if (named != digest) return absl::InternalError("coordinator named a blob not asked about");
    const std::string name = absl::StrCat("result ", DigestToHex(digest).substr(0, 16));
    PF_RETURN_IF_ERROR(UploadResuming(stub, digest, source, name, received, stats));
  }
  return absl::OkStatus();
}

absl::Status DownloadToStore(v1::BlobService::Stub* stub, const Digest& digest, BlobStore* store) {
  if (store->Has(digest)) {
    store->Touch(digest);
    return absl::OkStatus();
  }
  v1::DownloadRequest request;
  request.set_digest(DigestBytes(digest));
  request.set_offset(store->ReceivedBytes(digest));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::DownloadChunk>> reader(stub->Download(&context, request));
  v1::DownloadChunk chunk;
  std::unique_ptr<BlobStore::Upload> upload;
  absl::Status status;
  while (status.ok() && reader->Read(&chunk)) {
    if (upload == nullptr) {
      auto started = store->StartUpload(digest, chunk.size(), request.offset());
      if (!started.ok()) {
        status = started.status();
        break;
      }
      upload = std::move(*started);
    }
    status = upload->Append(chunk.data());
  }
  if (!status.ok()) {
    context.TryCancel();
    reader->Finish().ok();
    return status;
  }
  PF_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (upload == nullptr) return absl::DataLossError("download returned nothing");
  return upload->Commit();
}

absl::StatusOr<size_t> RemoteBlobSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  if (offset >= size_ || n == 0) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  if (n >= kBlockBytes) {
    PF_RETURN_IF_ERROR(Fetch(offset, buf, n));
    return n;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t done = 0; done < n;) {
    const uint64_t at = offset + done;
    PF_ASSIGN_OR_RETURN(const std::string* block, Block(at / kBlockBytes));
    const size_t from = static_cast<size_t>(at % kBlockBytes);
    const size_t take = std::min(n - done, block->size() - from);
    std::memcpy(buf + done, block->data() + from, take);
    done += take;
  }
  return n;
}

absl::StatusOr<const std::string*> RemoteBlobSource::Block(uint64_t index) const {
  for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
    if (it->first == index) {
      blocks_.splice(blocks_.begin(), blocks_, it);
      return &blocks_.front().second;
    }
  }
  const uint64_t start = index * kBlockBytes;
  std::string block(static_cast<size_t>(std::min<uint64_t>(kBlockBytes, size_ - start)), '\0');
  PF_RETURN_IF_ERROR(Fetch(start, block.data(), block.size()));
  if (blocks_.size() == kCachedBlocks) blocks_.pop_back();
  blocks_.emplace_front(index, std::move(block));
  return &blocks_.front().second;
}

absl::Status RemoteBlobSource::Fetch(uint64_t offset, char* buf, size_t n) const {
  absl::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {
    status = FetchOnce(offset, buf, n);
    if (status.code() != absl::StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("reading blob ", DigestToHex(digest_).substr(0, 16), " at ",
                                     offset, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status RemoteBlobSource::FetchOnce(uint64_t offset, char* buf, size_t n) const {
  v1::DownloadRequest request;
  request.set_digest(DigestBytes(digest_));
  request.set_offset(offset);
  request.set_length(n);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  std::unique_ptr<grpc::ClientReader<v1::DownloadChunk>> reader(stub_->Download(&context, request));
  v1::DownloadChunk chunk;
  size_t got = 0;
  bool first = true;
  absl::Status status;
  while (status.ok() && reader->Read(&chunk)) {
    if (first && chunk.size() != size_) {
      status = absl::FailedPreconditionError(
          absl::StrCat("the blob is ", chunk.size(), " bytes, not ", size_));
    } else if (chunk.data().size() > n - got) {
      status = absl::DataLossError("the coordinator sent more than was asked");
    } else {
      std::memcpy(buf + got, chunk.data().data(), chunk.data().size());
      got += chunk.data().size();
    }
    first = false;
  }
  if (!status.ok()) {
    context.TryCancel();
    reader->Finish().ok();
    return status;
  }
  PF_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (got != n) return absl::DataLossError(absl::StrCat("got ", got, " of ", n, " bytes"));
  bytes_read_ += got;
  return absl::OkStatus();
}

}  // namespace patchfarm
