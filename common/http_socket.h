// The socket side of the HTTP server (http_server.cc, its only user): poll
// deadlines, the request-head scan of the gate, and the stream cpp-httplib
// reads a gated request from and writes its response to. Not thread-safe.
#ifndef PATCHFARM_COMMON_HTTP_SOCKET_H_
#define PATCHFARM_COMMON_HTTP_SOCKET_H_

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace patchfarm {

using SteadyClock = std::chrono::steady_clock;

// Milliseconds from now to `deadline` for poll(), rounded up, at least 0.
int PollMillis(SteadyClock::time_point deadline);

// Waits until `fd` has `events` or `deadline` passes. True if it has.
bool WaitFor(int fd, short events, SteadyClock::time_point deadline);

// A response the gate sends without a pool thread: best effort, never blocks.
void SendAndForget(int fd, absl::string_view response);

// The byte after the blank line ending the request head, or npos.
size_t HeadEnd(const std::string& buffer, size_t searched_before);

// The address of the socket's peer (`peer`) or its own; left as is if unknown.
void SocketAddress(int fd, bool peer, std::string& ip, int& port);

// A non-blocking socket whose request head the gate has already read: reads
// come from that buffer first. Every read and the whole response's writes have
// a deadline.
class BufferedSocketStream : public httplib::Stream {
 public:
  BufferedSocketStream(int fd, std::string buffered, SteadyClock::duration read_timeout,
                       SteadyClock::duration write_timeout)
      : fd_(fd),
        buffered_(std::move(buffered)),
        read_deadline_(SteadyClock::now() + read_timeout),
        write_timeout_(write_timeout) {}

  bool is_readable() const override {
    return pos_ < buffered_.size() || WaitFor(fd_, POLLIN, read_deadline_);
  }
  bool is_writable() const override { return WaitFor(fd_, POLLOUT, WriteDeadline()); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < buffered_.size()) {
      size_t n = std::min(size, buffered_.size() - pos_);
      std::memcpy(ptr, buffered_.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    while (true) {
      ssize_t n = recv(fd_, ptr, size, MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!WaitFor(fd_, POLLIN, read_deadline_)) return -1;
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!write_deadline_started_) {
      write_deadline_ = SteadyClock::now() + write_timeout_;
      write_deadline_started_ = true;
    }
    size_t done = 0;
    while (done < size) {
      ssize_t n = send(fd_, ptr + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!WaitFor(fd_, POLLOUT, write_deadline_)) return -1;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(fd_, /*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    SocketAddress(fd_, /*peer=*/false, ip, port);
  }
  socket_t socket() const override { return fd_; }

  // The bytes read from the socket but not by the request (a pipelined request).
  std::string TakeUnread() { return buffered_.substr(pos_); }

 private:
  SteadyClock::time_point WriteDeadline() const {
    return write_deadline_started_ ? write_deadline_ : SteadyClock::now() + write_timeout_;
  }

  int fd_;
  std::string buffered_;
  size_t pos_ = 0;
  SteadyClock::time_point read_deadline_;
  SteadyClock::duration write_timeout_;
  SteadyClock::time_point write_deadline_;
  bool write_deadline_started_ = false;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_HTTP_SOCKET_H_
