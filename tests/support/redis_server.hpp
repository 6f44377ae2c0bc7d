// A real redis-server for tests: started on a free loopback port, stopped and restarted
// on demand, killed when the test ends.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace test_support {

// A TCP port nobody listens on right now.
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {})
      : port_{free_port()}, extra_args_{std::move(extra_args)} {
    start();
  }
  ~redis_server() { stop(); }
  redis_server(redis_server const&) = delete;
  redis_server& operator=(redis_server const&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
                                  "--loglevel", "warning", "--logfile", "/dev/null"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
    for (int i = 0; i < 200; ++i) {  // up to 10 s
      if (answers()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();  // never leave a server behind: it would hold the test runner's pipes open
    throw std::runtime_error("redis-server did not start (is it installed?)");
  }

  // Kills the server at once, as a crash would.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // The server replies (PONG, or NOAUTH when it wants a password).
  bool answers() const {
    redisReply* r = command("PING");
    bool ok = r != nullptr;
    if (r) freeReplyObject(r);
    return ok;
  }

  // Runs one command on a fresh blocking connection (test side only); the caller frees.
  template <class... Args>
  redisReply* command(char const* format, Args... args) const {
    timeval timeout{5, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    if (c == nullptr || c->err) {
      if (c) redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, timeout);
    auto* r = static_cast<redisReply*>(redisCommand(c, format, args...));
    redisFree(c);
    return r;
  }

  long long integer(char const* format, std::string const& arg) const {
    redisReply* r = command(format, arg.c_str());
    long long v = (r != nullptr && r->type == REDIS_REPLY_INTEGER) ? r->integer : -999;
    if (r) freeReplyObject(r);
    return v;
  }

 private:
  std::uint16_t port_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
};

}  // namespace test_support
