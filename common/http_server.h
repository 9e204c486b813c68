// A minimal HTTP/1.1 server for operators' endpoints (/metrics, the status
// page): GET only, one request per connection, answered by a handler per path.
// Not for untrusted heavy traffic: requests are read with a size and time
// limit and served one at a time on one thread.
#ifndef PATCHFARM_COMMON_HTTP_SERVER_H_
#define PATCHFARM_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace patchfarm {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  // Listens on `address` ("host:port"; port 0 picks one) and serves `routes`
  // (exact paths; the query string is ignored) on a background thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& address,
                                                           std::map<std::string, Handler> routes);
  ~HttpServer();

  const std::string& address() const { return address_; }

 private:
  HttpServer(int fd, std::string address, std::map<std::string, Handler> routes)
      : fd_(fd), address_(std::move(address)), routes_(std::move(routes)) {}
  void Serve();
  void Answer(int client);

  int fd_;
  std::string address_;
  std::map<std::string, Handler> routes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_HTTP_SERVER_H_
