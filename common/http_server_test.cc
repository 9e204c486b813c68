#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string Send(const std::string& address, const std::string& request) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  send(fd, request.data(), request.size(), 0);
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST(HttpServer, ServesRoutesAndRefusesTheRest) {
  auto server = HttpServer::Start("127.0.0.1:0", {{"/metrics", [] {
                                                     return HttpResponse{200, "text/plain", "up 1\n"};
                                                   }}});
  ASSERT_TRUE(server.ok()) << server.status();
  std::string ok = Send((*server)->address(), "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(ok.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_NE(ok.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 5), "up 1\n");
  EXPECT_EQ(Send((*server)->address(), "GET /other HTTP/1.1\r\n\r\n").substr(0, 12), "HTTP/1.1 404");
  EXPECT_EQ(Send((*server)->address(), "POST /metrics HTTP/1.1\r\n\r\n").substr(0, 12), "HTTP/1.1 405");
  EXPECT_EQ(Send((*server)->address(), "garbage\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  EXPECT_FALSE(HttpServer::Start("nonsense", {}).ok());
}

}  // namespace
}  // namespace patchfarm
