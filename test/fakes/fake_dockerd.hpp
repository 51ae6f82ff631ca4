#pragma once
// A fake dockerd for the tests of docker/ (the client and the event stream): an acceptor on a
// unix socket or a TCP endpoint, on its own thread and io_context, so that the io_context of the
// code under test holds nothing but that code. For each connection it reads the request head and
// plays the Script its Route returns: each step's bytes, then the step's pause; at the end it
// closes the connection, or holds it open (silently) until the fake is destroyed.

#include <stdlib.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace k8sinpod::fakes {

struct Step {
  std::string bytes;
  std::chrono::milliseconds pause{0};
};
struct Script {
  std::vector<Step> steps;
  bool hold = false;
};

/// The script for one connection, from its request head and its index (0 for the first).
using Route = std::function<Script(const std::string& head, std::size_t connection)>;

/// Answers `bytes` and closes; nullopt: holds the connection open and never answers.
inline Script answer(std::optional<std::string> bytes) {
  if (!bytes) return Script{{}, true};
  return Script{{Step{std::move(*bytes)}}, false};
}

template <class Protocol>
class FakeDockerd {
 public:
  FakeDockerd(const typename Protocol::endpoint& at, Route route)
      : acceptor_(ioc_, at), route_(std::move(route)) {
    boost::asio::co_spawn(ioc_, accept_loop(), rethrow);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  /// Connection i plays scripts[min(i, size - 1)].
  FakeDockerd(const typename Protocol::endpoint& at, std::vector<Script> scripts)
      : FakeDockerd(at, [scripts = std::move(scripts)](const std::string&, std::size_t n) {
          return scripts.at(std::min(n, scripts.size() - 1));
        }) {}
  ~FakeDockerd() {
    ioc_.stop();
    thread_.join();
  }
  FakeDockerd(const FakeDockerd&) = delete;
  FakeDockerd& operator=(const FakeDockerd&) = delete;

  typename Protocol::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  /// The request heads received so far, in order of arrival.
  std::vector<std::string> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

  static void rethrow(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  }

  boost::asio::awaitable<void> accept_loop() {
    for (std::size_t n = 0;; ++n) {
      auto accepting = acceptor_.async_accept(kTuple);
      auto [ec, socket] = co_await std::move(accepting);
      if (ec) co_return;
      boost::asio::co_spawn(ioc_, serve(std::move(socket), n), rethrow);
    }
  }

  boost::asio::awaitable<void> serve(typename Protocol::socket socket, std::size_t connection) {
    std::string buffer;
    auto reading = boost::asio::async_read_until(socket, boost::asio::dynamic_buffer(buffer),
                                                 "\r\n\r\n", kTuple);
    const auto [ec, n] = co_await std::move(reading);
    if (ec) co_return;
    const std::string head = buffer.substr(0, n);
    {
      const std::lock_guard lock(mutex_);
      requests_.push_back(head);
    }
    const Script script = route_(head, connection);
    boost::asio::steady_timer timer(ioc_);
    for (const Step& step : script.steps) {
      if (!step.bytes.empty()) {
        auto writing = boost::asio::async_write(socket, boost::asio::buffer(step.bytes), kTuple);
        const auto [write_ec, written] = co_await std::move(writing);
        if (write_ec) co_return;
      }
      if (step.pause > std::chrono::milliseconds(0)) {
        timer.expires_after(step.pause);
        auto waiting = timer.async_wait(kTuple);
        co_await std::move(waiting);
      }
    }
    if (script.hold) {
      held_.push_back(std::move(socket));
      co_return;
    }
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::socket_base::shutdown_both, ignored);
  }

  boost::asio::io_context ioc_;
  typename Protocol::acceptor acceptor_;
  Route route_;
  std::vector<typename Protocol::socket> held_;  // the fake's thread only
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

/// A temporary directory (for a unix socket), removed with its content.
struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/k8sinpod-docker-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

}  // namespace k8sinpod::fakes
