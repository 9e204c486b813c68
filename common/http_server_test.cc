#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

int Port(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  return port;
}

// A connected loopback socket, or -1.
int Connect(const std::string& address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(Port(address)));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends on `fd` until it closes the connection or
// `timeout` passes without data.
std::string ReadUntilClosed(int fd, std::chrono::milliseconds timeout) {
  std::string response;
  char buffer[4096];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  return response;
}

// Sends `request` on a new connection and returns all the server answers.
std::string Send(const std::string& address, const std::string& request) {
  int fd = Connect(address);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response = ReadUntilClosed(fd, std::chrono::seconds(30));
  close(fd);
  return response;
}

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

std::map<std::string, HttpServer::Handler> MetricsRoutes() {
  return {{"/metrics", [] { return HttpResponse{200, "text/plain", "up 1\n"}; }},
          {"/", [] { return HttpResponse{200, "text/html", "<p>status</p>"}; }}};
}

TEST(HttpServerTest, ServesRoutesAndRefusesTheRest) {
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string& address = (*server)->address();
  EXPECT_EQ(address.substr(0, 10), "127.0.0.1:");
  EXPECT_NE(Port(address), 0);

  std::string ok = Send(address, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(ok), "HTTP/1.1 200 OK");
  EXPECT_NE(ok.find("Content-Length: 5\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Cache-Control: no-store\r\n"), std::string::npos) << ok;
  EXPECT_EQ(ok.substr(ok.size() - 5), "up 1\n");

  std::string page = Send(address, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(StatusLine(page), "HTTP/1.1 200 OK");
  EXPECT_EQ(page.substr(page.size() - 13), "<p>status</p>");

  std::string head = Send(address, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << "HEAD got a body: " << head;

  std::string missing = Send(address, "GET /other HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(missing), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(Send(address, "GET /metrics/ HTTP/1.1\r\nConnection: close\r\n\r\n")),
            "HTTP/1.1 404 Not Found");

  std::string post = Send(address, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(StatusLine(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(StatusLine(Send(address, "DELETE / HTTP/1.1\r\n\r\n")), "HTTP/1.1 405 Method Not Allowed");

  EXPECT_EQ(StatusLine(Send(address, "garbage\r\n\r\n")).substr(0, 12), "HTTP/1.1 400");
}

TEST(HttpServerTest, RejectsBadAddressesAndOptions) {
  EXPECT_EQ(HttpServer::Start("nonsense", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start("127.0.0.1:65536", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  HttpServerOptions no_threads;
  no_threads.threads = 0;
  EXPECT_EQ(HttpServer::Start("127.0.0.1:0", {}, no_threads).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, SecondServerOnTheSamePortFails) {
  auto first = HttpServer::Start("127.0.0.1:0", MetricsRoutes());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = HttpServer::Start((*first)->address(), MetricsRoutes());
  EXPECT_FALSE(second.ok());
}

TEST(HttpServerTest, KeepsConnectionsAliveUpToTheLimit) {
  HttpServerOptions options;
  options.max_requests_per_connection = 3;
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  int fd = Connect((*server)->address());
  ASSERT_GE(fd, 0);
  // Two pipelined, then one more: three answers, the last with Connection: close.
  std::string two = "GET /metrics HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  std::string third = "GET /metrics HTTP/1.1\r\n\r\n";
  send(fd, third.data(), third.size(), MSG_NOSIGNAL);
  std::string all = ReadUntilClosed(fd, std::chrono::seconds(30));
  close(fd);
  size_t count = 0;
  for (size_t at = all.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = all.find("HTTP/1.1 200 OK", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << all;
  EXPECT_NE(all.find("<p>status</p>"), std::string::npos);
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos) << all;
}

TEST(HttpServerTest, AnswersRangesWithTheWholeBodyOnce) {
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes());
  ASSERT_TRUE(server.ok()) << server.status();
  std::string ranges = "bytes=0-";
  for (int i = 0; i < 500; ++i) ranges += ",0-";
  std::string response = Send((*server)->address(),
                              "GET / HTTP/1.1\r\nRange: " + ranges + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("Content-Length: 13\r\n"), std::string::npos) << response.substr(0, 400);
  EXPECT_EQ(response.substr(response.find("\r\n\r\n") + 4), "<p>status</p>");
}

TEST(HttpServerTest, RefusesAnOversizedRequest) {
  HttpServerOptions options;
  options.max_request_bytes = 1024;
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string request = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_EQ(StatusLine(Send((*server)->address(), request)),
            "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(HttpServerTest, ClosesAHalfSentRequestAfterTheReadTimeout) {
  HttpServerOptions options;
  options.read_timeout = absl::Milliseconds(200);
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  int fd = Connect((*server)->address());
  ASSERT_GE(fd, 0);
  send(fd, "GET /met", 8, MSG_NOSIGNAL);
  // Closed by the server: the read ends well before the test's own 30 s.
  EXPECT_EQ(StatusLine(ReadUntilClosed(fd, std::chrono::seconds(30))), "HTTP/1.1 408 Request Timeout");
  close(fd);
}

// True if the server closes `fd` (EOF) within `timeout`.
bool ClosedByServer(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return recv(fd, &byte, 1, 0) == 0;
}

TEST(HttpServerTest, ClosesTheLongestWaitingConnectionsOverTheCap) {
  HttpServerOptions options;
  options.max_pending_connections = 4;
  options.read_timeout = absl::Seconds(60);
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(Connect((*server)->address()));
    ASSERT_GE(idle.back(), 0);
  }
  // Long before the read timeout: the two oldest make room for the others.
  EXPECT_TRUE(ClosedByServer(idle[0], std::chrono::seconds(30)));
  EXPECT_TRUE(ClosedByServer(idle[1], std::chrono::seconds(30)));
  std::string request = "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
  send(idle[5], request.data(), request.size(), MSG_NOSIGNAL);
  EXPECT_EQ(StatusLine(ReadUntilClosed(idle[5], std::chrono::seconds(30))), "HTTP/1.1 200 OK");
  for (int fd : idle) close(fd);
}

// The liveness probe's case: clients that connect and stall (sending nothing or
// half a request line) must not delay a fresh /metrics request. A server that
// gave each connection a pool thread until its read timeout would answer only
// after 25 rounds of 3 s here.
TEST(HttpServerTest, AnswersWhileFiftyConnectionsStall) {
  HttpServerOptions options;
  options.threads = 2;
  options.read_timeout = absl::Seconds(3);
  auto server = HttpServer::Start("127.0.0.1:0", MetricsRoutes(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string& address = (*server)->address();
  std::vector<int> stalled;
  for (int i = 0; i < 50; ++i) {
    int fd = Connect(address);
    ASSERT_GE(fd, 0) << "connection " << i;
    if (i % 2 == 1) send(fd, "GET /metr", 9, MSG_NOSIGNAL);
    stalled.push_back(fd);
  }
  int fresh = Connect(address);
  ASSERT_GE(fresh, 0);
  std::string request = "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
  send(fresh, request.data(), request.size(), MSG_NOSIGNAL);
  // Generous: the read timeout plus margin, for a loaded machine.
  std::string response = ReadUntilClosed(fresh, std::chrono::seconds(5));
  close(fresh);
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_EQ(response.substr(response.size() - 5), "up 1\n");
  for (int fd : stalled) close(fd);
}

// One connection's pipelined requests take turns with other connections':
// a client that sends many at once (and reads slowly) cannot hold the pool
// while /metrics, the liveness probe, waits.
TEST(HttpServerTest, PipelinedRequestsTakeTurnsWithOtherConnections) {
  HttpServerOptions options;
  options.threads = 1;
  std::map<std::string, HttpServer::Handler> routes = MetricsRoutes();
  routes["/slow"] = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return HttpResponse{200, "text/plain", "slow\n"};
  };
  auto server = HttpServer::Start("127.0.0.1:0", routes, options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string& address = (*server)->address();
  int greedy = Connect(address);
  ASSERT_GE(greedy, 0);
  std::string pipelined;
  for (int i = 0; i < 20; ++i) pipelined += "GET /slow HTTP/1.1\r\n\r\n";
  send(greedy, pipelined.data(), pipelined.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string probe = Send(address, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusLine(probe), "HTTP/1.1 200 OK");
  // Answered while most of the greedy connection's requests still wait.
  std::string answered = ReadUntilClosed(greedy, std::chrono::milliseconds(0));
  size_t count = 0;
  for (size_t at = answered.find("slow\n"); at != std::string::npos; at = answered.find("slow\n", at + 1)) {
    ++count;
  }
  EXPECT_LT(count, 10u);
  close(greedy);
}

}  // namespace
}  // namespace patchfarm
