#include "coordinator/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "common/status_macros.h"
#include "coordinator/metrics_page.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace patchfarm {

bool IsLoopbackAddress(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  if (host == "localhost") return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6;
    host = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
    return IN6_IS_ADDR_LOOPBACK(&v6) ||
           (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  return (ntohl(v4.s_addr) >> 24) == 127;
}

namespace {

// Every RPC needs a token (--tokens), or the coordinator is reachable from
// this machine only, or the operator said otherwise (--insecure-no-auth).
absl::Status CheckAuthentication(const ServerOptions& options) {
  if (!options.tokens_file.empty() || options.insecure_no_auth ||
      IsLoopbackAddress(options.listen)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("refusing to listen on ", options.listen,
                   " without --tokens: every client could submit, drain workers and "
                   "change policies. Give --tokens FILE (patchfarm token new), listen "
                   "on loopback, or pass --insecure-no-auth to accept that"));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_cert_file.empty()) {
    if (!options.plaintext) {
      return absl::InvalidArgumentError(
          "give --tls-cert and --tls-key, or --plaintext to listen without TLS on loopback");
    }
    if (!IsLoopbackAddress(options.listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing plaintext on ", options.listen, ": plaintext is for loopback (127.0.0.1) only"));
    }
    return grpc::InsecureServerCredentials();
  }
  PF_RETURN_IF_ERROR(CheckAuthentication(options));  // Before any file is read.
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  PF_ASSIGN_OR_RETURN(pair.cert_chain, ReadFileToString(options.tls_cert_file));
  PF_ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back(pair);
  if (!options.tls_client_ca_file.empty()) {
    PF_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFileToString(options.tls_client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Refuses a call without a known token while its metadata is processed,
// before gRPC reads and parses its request: the services check each call's
// role too, but only after a request of up to 64 MiB has been parsed, which
// anyone who can complete a TLS handshake could make the coordinator do.
// gRPC runs it for TLS credentials only; plaintext is loopback only.
class TokenGate : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenGate(const TokenAuth* auth) : auth_(auth) {}
  bool IsBlocking() const override { return false; }  // A hash and compares.
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata*,
                       OutputMetadata*) override {
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return Known(nullptr);
    const absl::string_view value(it->second.data(), it->second.size());
    return Known(&value);
  }

 private:
  grpc::Status Known(const absl::string_view* authorization) const {
    return auth_->CheckHeader(authorization,
                              {Role::kSubmit, Role::kRequest, Role::kWorker, Role::kAdmin});
  }

  const TokenAuth* const auth_;
};

// A page built at most once a second: requests meanwhile get the last one
// (and wait for a build under way rather than start another).
class CachedPage {
 public:
  explicit CachedPage(std::function<std::string()> build) : build_(std::move(build)) {}
  std::string Get() {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Duration now = SystemClock().Monotonic();
    if (!built_ || now - built_at_ >= absl::Seconds(1)) {
      page_ = build_();
      built_at_ = now;
      built_ = true;
    }
    return page_;
  }

 private:
  const std::function<std::string()> build_;
  std::mutex mu_;
  bool built_ = false;
  absl::Duration built_at_;
  std::string page_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  // Refused before anything is created under data_dir.
  PF_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                      Credentials(options));
  if (!options.tokens_file.empty()) {
    PF_ASSIGN_OR_RETURN(s->auth_, TokenAuth::Load(options.tokens_file));
    if (!options.tls_cert_file.empty()) {
      credentials->SetAuthMetadataProcessor(std::make_shared<TokenGate>(s->auth_.get()));
    }
  }
  if (mkdir(options.data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, "mkdir", options.data_dir);
  }
  PF_ASSIGN_OR_RETURN(s->store_, RocksDbStore::Open(options.data_dir + "/db"));
  PF_ASSIGN_OR_RETURN(s->blobs_, BlobStore::Open(options.data_dir + "/blobs"));
  PF_ASSIGN_OR_RETURN(s->coordinator_,
                      Coordinator::Create(s->store_.get(), s->blobs_.get(), &SystemClock(),
                                          options.coordinator));
  BlobServiceOptions blob_options;
  blob_options.upload_bytes_per_second = options.upload_bytes_per_second;
  blob_options.min_free_bytes = options.min_free_disk_bytes;
  blob_options.room_window = options.upload_room_window;
  blob_options.stall_patience = options.stall_patience;
  s->blob_service_ = std::make_unique<BlobServiceImpl>(s->blobs_.get(), s->auth_.get(), blob_options);
  s->coordinator_service_ =
      std::make_unique<CoordinatorServiceImpl>(s->coordinator_.get(), s->auth_.get(),
                                               options.max_waiting_calls);
  s->worker_service_ =
      std::make_unique<WorkerServiceImpl>(s->coordinator_.get(), s->auth_.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  // At most this many calls at once on one client connection.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_streams_per_client);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  const int keepalive_ms = static_cast<int>(absl::ToInt64Milliseconds(options.keepalive));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(kMinPingInterval)));
  builder.RegisterService(s->blob_service_.get());
  builder.RegisterService(s->coordinator_service_.get());
  builder.RegisterService(s->worker_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  s->address_ = absl::StrCat(options.listen.substr(0, options.listen.rfind(':')), ":", port);
  CoordinatorServer* raw = s.get();
  if (!options.http_listen.empty()) {
    // Both pages walk the coordinator's state under its lock: each is built
    // at most once a second, however many requests come.
    auto metrics = std::make_shared<CachedPage>([raw] {
      return CoordinatorMetricsText(raw->coordinator_.get(), raw->blob_service_.get());
    });
    auto status = std::make_shared<CachedPage>([raw] { return StatusPageHtml(raw->coordinator_.get()); });
    PF_ASSIGN_OR_RETURN(
        s->http_,
        HttpServer::Start(options.http_listen,
                          {{"/metrics",
                            [metrics] {
                              return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                                  metrics->Get()};
                            }},
                           {"/", [status] {
                              return HttpResponse{200, "text/html; charset=utf-8", status->Get()};
                            }}}));
  }
  s->expiry_ = std::thread([raw] {
    absl::Time next_sweep = absl::Now();
    while (!raw->stopping_) {
      raw->coordinator_->ExpireLeases();
      if (absl::Now() >= next_sweep) {  // Uploads interrupted for good (a killed CI job).
        raw->blobs_->DropStalePartials(absl::Now(), kStalePartialAge).IgnoreError();
        // Uploads nothing came to name; errors are logged.
        raw->coordinator_->DropOrphanBlobs(absl::Now(), kOrphanBlobAge).IgnoreError();
        next_sweep = absl::Now() + absl::Hours(1);
      }
      for (int i = 0; i < 10 && !raw->stopping_; ++i) {
        SystemClock().SleepFor(absl::Milliseconds(100));
      }
    }
  });
  return s;
}

void CoordinatorServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  http_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  if (expiry_.joinable()) expiry_.join();
}

CoordinatorServer::~CoordinatorServer() {
  Shutdown();
  server_.reset();
}

}  // namespace patchfarm
