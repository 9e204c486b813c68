// The HTTP/1.1 server of the operators' endpoints: the coordinator's /metrics
// and status page, the worker's /metrics. Kubernetes probes /metrics for
// liveness, so a slow or stalled client must not delay other clients.
//
// Protocol: GET and HEAD only (any other method: 405; an unparseable request:
// 400), exact paths (the query string is ignored; unknown path: 404), keep-alive
// up to HttpServerOptions::max_requests_per_connection requests.
//
// Mechanism: cpp-httplib (Debian's libcpp-httplib) accepts connections, parses
// requests and writes responses. In front of its worker pool sits a gate: one
// thread that poll()s every connection until its whole request head (request
// line and headers) has arrived, then hands it to the pool. A connection that
// sends nothing, or half a request, holds no pool thread; it is closed when its
// read_timeout runs out, or when max_pending_connections newer ones wait. A pool
// thread runs the handler and writes the response within write_timeout.
//
// Thread-safety: handlers run on the pool threads, several at once; they must
// be safe to call concurrently. An HttpServer is immutable once started.
#ifndef PATCHFARM_COMMON_HTTP_SERVER_H_
#define PATCHFARM_COMMON_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace patchfarm {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  // Pool threads that run handlers and write responses. Default: 8.
  int threads = 8;
  // The whole request head must arrive within this time of the connection being
  // accepted (or, kept alive, of its previous response); otherwise the connection
  // is closed (with a 408 if part of a request had arrived). Default: 5 s.
  absl::Duration read_timeout = absl::Seconds(5);
  // Writing one response must finish within this time, or the connection is
  // closed. Default: 5 s.
  absl::Duration write_timeout = absl::Seconds(5);
  // Requests served on one connection; the last response says Connection: close.
  // Default: 100.
  int max_requests_per_connection = 100;
  // Largest request head (request line and headers); a larger one gets a 431 and
  // the connection is closed. Default: 8 KiB.
  size_t max_request_bytes = 8 * 1024;
  // Connections waiting for their request head; past this the one waiting
  // longest is closed. Default: 512.
  int max_pending_connections = 512;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  // Listens on `address` ("host:port" or "[ipv6]:port"; an empty host is
  // 0.0.0.0; port 0 picks one) and serves `routes` (exact path -> handler) on
  // background threads until destroyed. Errors: InvalidArgument for a malformed
  // address or options out of range (a count below 1, a timeout not positive
  // and finite); PermissionDenied for a port the process may not bind;
  // Unavailable for any other bind failure (the message says why, e.g. in use).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& address,
                                                           std::map<std::string, Handler> routes,
                                                           const HttpServerOptions& options = {});
  // Stops accepting, finishes the responses being written (each within
  // write_timeout), closes every other connection and joins every thread.
  ~HttpServer();

  // The address bound, "host:port" with the port chosen.
  const std::string& address() const { return address_; }

 private:
  class Impl;
  HttpServer(std::unique_ptr<Impl> impl, std::string address);

  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_HTTP_SERVER_H_
