#include "common/http_server.h"

// Debian's libcpp-httplib is split: this header declares, libcpp-httplib.so
// implements. @system//:cpp_httplib defines the CPPHTTPLIB_*_SUPPORT macros the
// library was built with, so the class layouts agree. Only this file and
// http_socket.h (its private part) include it.
#include <httplib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/http_socket.h"

namespace patchfarm {
namespace {

// cpp-httplib listens with a backlog of 5; a burst of connections would have
// SYNs dropped (and retried a second later).
constexpr int kListenBacklog = 128;

// cpp-httplib's task queue for accepted sockets. The override of
// process_and_close_socket only hands the socket to the gate, so it runs on the
// accepting thread.
class InlineTaskQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// cpp-httplib's server with its per-socket loop replaced (as its own SSLServer
// does): accepted sockets go to `admit`, complete requests come back through
// ProcessRequest.
class GatedServer : public httplib::Server {
 public:
  explicit GatedServer(std::function<void(int)> admit) : admit_(std::move(admit)) {
    new_task_queue = [] { return new InlineTaskQueue; };
  }

  bool ProcessRequest(httplib::Stream& stream, bool close_connection, bool& connection_closed,
                      const std::function<void(httplib::Request&)>& setup_request) {
    return process_request(stream, close_connection, connection_closed, setup_request);
  }

  // Raises the accept backlog of the bound socket.
  void Relisten(int backlog) {
    int fd = svr_sock_;
    if (fd != INVALID_SOCKET) ::listen(fd, backlog);
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    admit_(sock);
    return true;
  }

  std::function<void(int)> admit_;
};

// A connection waiting in the gate for its request head.
struct Waiting {
  int fd = -1;
  std::string buffer;  // What has arrived of the next request.
  SteadyClock::time_point deadline;
  int served = 0;  // Requests answered on this connection so far.
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(std::map<std::string, Handler> routes, const HttpServerOptions& options)
      : routes_(std::move(routes)),
        options_(options),
        read_timeout_(absl::ToChronoNanoseconds(options.read_timeout)),
        write_timeout_(absl::ToChronoNanoseconds(options.write_timeout)),
        server_([this](int fd) { Admit(Waiting{fd, "", {}, 0}); }) {
    server_.set_socket_options([](socket_t fd) {
      // Not cpp-httplib's SO_REUSEPORT: a second server on the port must fail.
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    });
    // Only advertised in Keep-Alive headers: the gate enforces the timeouts.
    server_.set_keep_alive_max_count(static_cast<size_t>(options.max_requests_per_connection));
    server_.set_keep_alive_timeout(
        std::max<time_t>(1, static_cast<time_t>(absl::ToInt64Seconds(options.read_timeout))));
    server_.set_default_headers({{"Cache-Control", "no-store"}});
    server_.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
      Route(request, response);
      return httplib::Server::HandlerResponse::Handled;
    });
  }

  ~Impl() {
    // The gate first (it feeds the pool), then intake, then the pool.
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
    if (gate_.joinable()) gate_.join();
    if (listener_.joinable()) {
      server_.stop();
      listener_.join();
    }
    if (pool_ != nullptr) pool_->shutdown();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Binds host:port (port 0 picks one) and starts the threads. Returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port, const std::string& address) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return ErrnoToStatus(errno, "eventfd for", address);
    errno = 0;
    int bound = port;
    if (port == 0) {
      bound = server_.bind_to_any_port(host);
    } else if (!server_.bind_to_port(host, port)) {
      bound = -1;
    }
    if (bound <= 0) {
      int err = errno;
      if (err == EACCES || err == EPERM) return ErrnoToStatus(err, "listen on", address);
      return absl::UnavailableError(absl::StrCat("cannot listen on ", address,
                                                 err != 0 ? absl::StrCat(": ", strerror(err)) : ""));
    }
    server_.Relisten(kListenBacklog);
    pool_ = std::make_unique<httplib::ThreadPool>(static_cast<size_t>(options_.threads));
    gate_ = std::thread([this] { GateLoop(); });
    listener_ = std::thread([this] {
      server_.listen_after_bind();
      listener_done_ = true;
    });
    // Returns once accepting, so that the destructor's stop() is not lost.
    while (!server_.is_running() && !listener_done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return bound;
  }

 private:
  void Route(const httplib::Request& request, httplib::Response& response) {
    if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.set_header("Allow", "GET, HEAD");
      response.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
      return;
    }
    auto it = routes_.find(request.path);
    if (it == routes_.end()) {
      response.status = 404;
      response.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    HttpResponse answer = it->second();
    response.status = answer.status;
    response.set_content(answer.body, answer.content_type);
  }

  // Gives a connection to the gate to wait for its next request head. Any thread.
  void Admit(Waiting waiting) {
    int one = 1;
    setsockopt(waiting.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(waiting.fd, F_SETFD, FD_CLOEXEC);
    fcntl(waiting.fd, F_SETFL, fcntl(waiting.fd, F_GETFL) | O_NONBLOCK);
    waiting.deadline = SteadyClock::now() + read_timeout_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        arrived_.push_back(std::move(waiting));
        waiting.fd = -1;
      }
    }
    if (waiting.fd >= 0) {
      close(waiting.fd);
    } else {
      Wake();
    }
  }

  void Wake() {
    if (wake_fd_ < 0) return;
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }

  enum class Progress { kWaiting, kComplete, kDone };

  // Reads what `w` has sent. kComplete: its request head is in w.buffer;
  // kDone: closed or refused (w.fd is closed).
  Progress ReadMore(Waiting& w) {
    char chunk[4096];
    while (true) {
      ssize_t n = recv(w.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Progress::kWaiting;
      if (n <= 0) {
        close(w.fd);
        return Progress::kDone;
      }
      size_t searched = w.buffer.size();
      w.buffer.append(chunk, static_cast<size_t>(n));
      size_t end = HeadEnd(w.buffer, searched);
      if (end != std::string::npos && end <= options_.max_request_bytes) return Progress::kComplete;
      if (end != std::string::npos || w.buffer.size() > options_.max_request_bytes) {
        SendAndForget(w.fd,
                      "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
        close(w.fd);
        return Progress::kDone;
      }
    }
  }

  // One thread: waits on every connection that has no complete request head.
  void GateLoop() {
    std::vector<Waiting> waiting;
    std::vector<pollfd> polled;
    while (true) {
      std::vector<Waiting> arrived;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        arrived.swap(arrived_);
      }
      for (Waiting& w : arrived) {
        // A kept-alive connection may bring a request it already sent.
        if (!w.buffer.empty() && HeadEnd(w.buffer, 0) != std::string::npos) {
          Dispatch(std::move(w));
        } else {
          waiting.push_back(std::move(w));
        }
      }
      // Over the cap, close the connections that have waited longest.
      size_t cap = static_cast<size_t>(std::max(1, options_.max_pending_connections));
      if (waiting.size() > cap) {
        std::sort(waiting.begin(), waiting.end(),
                  [](const Waiting& a, const Waiting& b) { return a.deadline < b.deadline; });
        size_t excess = waiting.size() - cap;
        for (size_t i = 0; i < excess; ++i) close(waiting[i].fd);
        waiting.erase(waiting.begin(), waiting.begin() + static_cast<ptrdiff_t>(excess));
      }

      polled.assign(1, pollfd{wake_fd_, POLLIN, 0});
      auto next_deadline = SteadyClock::time_point::max();
      for (const Waiting& w : waiting) {
        polled.push_back(pollfd{w.fd, POLLIN, 0});
        next_deadline = std::min(next_deadline, w.deadline);
      }
      int timeout = waiting.empty() ? -1 : PollMillis(next_deadline);
      if (poll(polled.data(), polled.size(), timeout) < 0 && errno != EINTR) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // ENOMEM: retry.
        continue;
      }
      if (polled[0].revents != 0) {
        uint64_t count;
        ssize_t ignored = read(wake_fd_, &count, sizeof(count));
        (void)ignored;
      }

      auto now = SteadyClock::now();
      std::vector<Waiting> still;
      still.reserve(waiting.size());
      for (size_t i = 0; i < waiting.size(); ++i) {
        Waiting& w = waiting[i];
        if (polled[i + 1].revents != 0) {
          Progress progress = ReadMore(w);
          if (progress == Progress::kComplete) {
            Dispatch(std::move(w));
            continue;
          }
          if (progress == Progress::kDone) continue;
        }
        if (now >= w.deadline) {
          if (!w.buffer.empty()) {
            SendAndForget(w.fd, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n");
          }
          close(w.fd);
          continue;
        }
        still.push_back(std::move(w));
      }
      waiting.swap(still);
    }
    for (Waiting& w : waiting) close(w.fd);
    std::lock_guard<std::mutex> lock(mu_);
    for (Waiting& w : arrived_) close(w.fd);
    arrived_.clear();
  }

  void Dispatch(Waiting w) {
    pool_->enqueue([this, w = std::move(w)]() mutable { Serve(std::move(w)); });
  }

  // On a pool thread: answers the complete request in w.buffer; then back to
  // the gate, back in the pool's queue if another complete request came with
  // it (behind other connections': one connection's pipelined requests, read
  // slowly, never hold a thread for more than one response), or closed.
  void Serve(Waiting w) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        close(w.fd);
        return;
      }
    }
    BufferedSocketStream stream(w.fd, std::move(w.buffer), read_timeout_, write_timeout_);
    bool last = w.served + 1 >= options_.max_requests_per_connection;
    bool client_closes = false;
    // Anything but a GET or HEAD without a body leaves the stream unparsed.
    bool reusable = false;
    bool ok = server_.ProcessRequest(stream, last, client_closes, [&](httplib::Request& request) {
      // Ranges are not served: cpp-httplib copies the body once per range
      // asked for, so "Range: bytes=0-,0-,..." in 8 KB of head made 350 MB
      // of one 135 KB status page. The whole body is the answer (200).
      request.ranges.clear();
      std::string length = request.get_header_value("Content-Length");
      reusable = (request.method == "GET" || request.method == "HEAD") &&
                 (length.empty() || length == "0") && !request.has_header("Transfer-Encoding");
    });
    ++w.served;
    w.buffer = stream.TakeUnread();
    if (!ok || last || client_closes || !reusable) {
      close(w.fd);
    } else if (HeadEnd(w.buffer, 0) == std::string::npos) {
      Admit(std::move(w));
    } else {
      Dispatch(std::move(w));
    }
  }

  const std::map<std::string, Handler> routes_;
  const HttpServerOptions options_;
  const SteadyClock::duration read_timeout_;
  const SteadyClock::duration write_timeout_;
  GatedServer server_;
  std::unique_ptr<httplib::ThreadPool> pool_;
  int wake_fd_ = -1;
  std::thread gate_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};

  std::mutex mu_;
  bool stopping_ = false;          // Guarded by mu_.
  std::vector<Waiting> arrived_;   // Guarded by mu_: for the gate to take.
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address,
                                                              std::map<std::string, Handler> routes,
                                                              const HttpServerOptions& options) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad listen address '", address, "'"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (options.threads < 1 || options.max_requests_per_connection < 1 ||
      options.max_pending_connections < 1 || options.read_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration() ||
      options.read_timeout == absl::InfiniteDuration() ||
      options.write_timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "HTTP server options: counts must be positive, timeouts positive and finite");
  }
  auto impl = std::make_unique<Impl>(std::move(routes), options);
  absl::StatusOr<int> bound = impl->Start(host, port, address);
  if (!bound.ok()) return bound.status();
  std::string shown = host.find(':') == std::string::npos ? host : absl::StrCat("[", host, "]");
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::move(impl), absl::StrCat(shown, ":", *bound)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, std::string address)
    : impl_(std::move(impl)), address_(std::move(address)) {}

HttpServer::~HttpServer() = default;

}  // namespace patchfarm
