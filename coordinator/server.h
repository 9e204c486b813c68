// A running coordinator: RocksDB state and blobs under a data directory, the
// three gRPC services on a listening address, and a thread that expires
// leases. Used by patchfarm-coordinator and by `patchfarm serve`.
#ifndef PATCHFARM_COORDINATOR_SERVER_H_
#define PATCHFARM_COORDINATOR_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "coordinator/coordinator.h"
#include "coordinator/grpc_services.h"
#include "grpcpp/server.h"
#include "storage/rocksdb_store.h"

namespace patchfarm {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // Port 0: the OS picks one.
  std::string data_dir;
  CoordinatorOptions coordinator;
  // If set, serves /metrics (Prometheus) and / (status page) over HTTP here.
  std::string http_listen;
  // If set, every RPC needs a bearer token from this file (token_auth.h).
  // Without it the coordinator listens only on loopback (127.0.0.0/8, ::1,
  // localhost), unless insecure_no_auth: then every client that can connect
  // (with TLS, every client the TLS settings admit) may do everything.
  std::string tokens_file;
  bool insecure_no_auth = false;  // patchfarm-coordinator --insecure-no-auth.
  // TLS (PEM files). Without them the coordinator serves plaintext only when
  // `plaintext` asks for it, and only on a loopback address. With
  // tls_client_ca, clients must present a certificate signed by it (mutual TLS).
  bool plaintext = false;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  int max_streams_per_client = 64;      // Concurrent calls per connection.
  // Watch and RequestPatch calls open at once (CoordinatorServiceImpl): each
  // holds a server thread until its release or job ends, which may be never.
  int max_waiting_calls = 256;
  uint64_t upload_bytes_per_second = 0;  // Per client address; 0: unlimited.
  // Uploads that would leave less free on the data directory's disk are
  // refused (BlobServiceImpl).
  uint64_t min_free_disk_bytes = uint64_t{1} << 30;
  uint64_t upload_room_window = uint64_t{64} << 20;  // BlobServiceOptions::room_window.
  // Clients are pinged every `keepalive`; one that leaves a ping unanswered
  // for `keepalive` (a CI job frozen or cut off mid-upload) loses its calls,
  // and with them what they hold (an upload's slot, which would refuse the
  // job's retry as Aborted). Clients may ping every kMinPingInterval
  // (common/grpc_channel.h) while no data flows.
  absl::Duration keepalive = absl::Seconds(60);
  // Uploads and downloads that stall this long are cancelled
  // (BlobServiceOptions::stall_patience): a live client that sends nothing
  // answers every keepalive ping.
  absl::Duration stall_patience = absl::Minutes(2);
};

// Whether `listen` ("host:port") binds to loopback only: an IPv4 address in
// 127.0.0.0/8, ::1 (or an IPv4-mapped 127.x, in brackets), or "localhost".
// Other names are not resolved: "127.example.com" is not loopback.
bool IsLoopbackAddress(const std::string& listen);

class CoordinatorServer {
 public:
  // Opens <data_dir>/db and <data_dir>/blobs and starts serving.
  // InvalidArgument, before anything is created, for plaintext off loopback
  // or for no tokens_file off loopback without insecure_no_auth.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const ServerOptions& options);
  ~CoordinatorServer();  // Shuts down.

  // "host:port" actually bound.
  const std::string& address() const { return address_; }
  // The HTTP address actually bound ("" without http_listen).
  std::string http_address() const { return http_ ? http_->address() : ""; }
  Coordinator* coordinator() { return coordinator_.get(); }
  BlobStore* blobs() { return blobs_.get(); }
  void Wait() {
    if (server_ != nullptr) server_->Wait();
  }
  void Shutdown();

 private:
  CoordinatorServer() = default;

  std::unique_ptr<RocksDbStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<TokenAuth> auth_;
  std::unique_ptr<BlobServiceImpl> blob_service_;
  std::unique_ptr<CoordinatorServiceImpl> coordinator_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::thread expiry_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_SERVER_H_
