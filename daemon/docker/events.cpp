// The second Beast translation unit of the Docker module (client.cpp is the first): the event
// stream reads one endless response incrementally, which the request client never does.
#include "docker/events.hpp"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <optional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "common/spawn.hpp"
#include "docker/transport.hpp"

namespace k8sinpod::docker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Read granularity of the body; an event is ~1 KiB.
constexpr std::size_t kReadChunk = std::size_t{16} * 1024;
// The read buffer in front of the parser: a chunk header longer than this is a broken stream.
constexpr std::size_t kBufferLimit = std::size_t{1} << 20U;
// How much of a non-200 body is read for its message.
constexpr std::size_t kErrorBodyLimit = std::size_t{64} * 1024;

// How one connection attempt ended.
struct Ended {
  bool was_connected = false;  // it got a 200: the next backoff starts from the beginning
  std::string why;
};

}  // namespace

struct EventStream::State {
  State(asio::any_io_executor ex, Endpoint ep, Callbacks cb, Backoff bo,
        std::chrono::milliseconds timeout)
      : executor(std::move(ex)),
        endpoint(std::move(ep)),
        callbacks(std::move(cb)),
        backoff(bo),
        connect_timeout(timeout),
        target(events_query()),
        prefix(detail::request_prefix(endpoint, target)),
        random(bo.seed),
        timer(executor) {}

  asio::any_io_executor executor;
  Endpoint endpoint;
  Callbacks callbacks;
  Backoff backoff;
  std::chrono::milliseconds connect_timeout;
  std::string target;
  std::string prefix;  // "docker: GET /events on unix:///run/docker.sock: "
  std::minstd_rand random;

  bool started = false;
  bool stopped = false;
  std::optional<bool> reported;  // the last on_connection value
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> reconnects{0};

  // What stop() cancels: the backoff wait, and the current attempt's resolver or stream.
  asio::steady_timer timer;
  std::shared_ptr<asio::ip::tcp::resolver> resolver;
  std::optional<beast::basic_stream<asio::local::stream_protocol>> unix_stream;
  std::optional<beast::tcp_stream> tcp_stream;

  static asio::awaitable<void> run(std::shared_ptr<State> self);
  asio::awaitable<Ended> attempt();
  template <class Stream>
  asio::awaitable<Ended> exchange(Stream& stream);

  void cancel_io() {
    timer.cancel();
    if (resolver) resolver->cancel();
    if (unix_stream) unix_stream->close();
    if (tcp_stream) tcp_stream->close();
  }

  void release_io() {
    resolver.reset();
    unix_stream.reset();
    tcp_stream.reset();
  }

  Ended failed(std::string_view phase, const error_code& ec) const {
    if (ec == beast::error::timeout) {
      return Ended{false, prefix + "timed out after " + std::to_string(connect_timeout.count()) +
                              "ms (" + std::string(phase) + ")"};
    }
    return Ended{false, prefix + std::string(phase) + ": " + detail::lower_first(ec.message())};
  }

  // Calls on_connection on a change only; nothing after stop().
  void report(bool up, const std::string& why) {
    if (stopped) return;
    connected = up;
    if (reported == up) return;
    reported = up;
    if (callbacks.on_connection) callbacks.on_connection(up, why);
  }

  // Hands the splitter's output to the callbacks; false once stopped (possibly by a callback).
  bool deliver(EventSplitter& splitter) {
    for (auto& item : splitter.take()) {
      if (stopped) return false;
      if (item.has_value()) {
        if (callbacks.on_event) callbacks.on_event(*item);
      } else if (callbacks.on_error) {
        callbacks.on_error(prefix + item.error().message);
      }
    }
    return !stopped;
  }

  double unit_random() {
    // minstd_rand yields [1, 2^31 - 2]: scaled into [0, 1).
    const auto r = static_cast<double>(random() - std::minstd_rand::min());
    return r / (static_cast<double>(std::minstd_rand::max() - std::minstd_rand::min()) + 1.0);
  }
};

asio::awaitable<void> EventStream::State::run(std::shared_ptr<State> self) {
  std::uint64_t failures = 0;
  for (bool first = true; !self->stopped; first = false) {
    if (!first) ++self->reconnects;
    auto attempting = self->attempt();
    const Ended ended = co_await std::move(attempting);
    self->release_io();
    if (self->stopped) co_return;
    failures = ended.was_connected ? 1 : failures + 1;
    self->report(false, ended.why);
    if (self->stopped) co_return;
    self->timer.expires_after(backoff_delay(self->backoff, failures, self->unit_random()));
    auto waiting = self->timer.async_wait(kTuple);
    co_await std::move(waiting);  // cancelled by stop(): the loop condition ends it
  }
}

asio::awaitable<Ended> EventStream::State::attempt() {
  const auto deadline = Clock::now() + connect_timeout;
  switch (endpoint.kind) {
    case Endpoint::Kind::unix_socket: {
      // The endpoint constructor throws on a path longer than sun_path. Nothing else is caught
      // here: an exception from a callback is a bug and ends the stream (ReportEscaped).
      std::optional<asio::local::stream_protocol::endpoint> address;
      try {
        address.emplace(endpoint.path);
      } catch (const std::exception& e) {
        co_return Ended{false, prefix + detail::lower_first(e.what())};
      }
      auto& stream = unix_stream.emplace(executor);
      stream.expires_at(deadline);
      auto connecting = stream.async_connect(*address, kTuple);
      const auto [ec] = co_await std::move(connecting);
      if (ec) co_return failed("connect", ec);
      auto exchanging = exchange(stream);  // still under the deadline
      Ended ended = co_await std::move(exchanging);
      co_return ended;
    }
    case Endpoint::Kind::tcp: {
      resolver = std::make_shared<asio::ip::tcp::resolver>(executor);
      auto resolving = detail::resolve(resolver, endpoint.host, endpoint.port, deadline);
      const detail::Resolved resolved = co_await std::move(resolving);
      if (resolved.ec == asio::error::timed_out) co_return failed("resolve", beast::error::timeout);
      if (resolved.ec) co_return failed("resolve", resolved.ec);
      if (stopped) co_return Ended{};
      auto& stream = tcp_stream.emplace(executor);
      stream.expires_at(deadline);
      auto connecting = stream.async_connect(resolved.results, kTuple);
      const auto [ec, connected_to] = co_await std::move(connecting);
      if (ec) co_return failed("connect", ec);
      // A peer that vanishes without a FIN is otherwise never noticed on an idle stream.
      error_code ignored;
      stream.socket().set_option(asio::socket_base::keep_alive(true), ignored);
      auto exchanging = exchange(stream);  // still under the deadline
      Ended ended = co_await std::move(exchanging);
      co_return ended;
    }
  }
  co_return Ended{false, prefix + "unknown endpoint kind"};
}

template <class Stream>
asio::awaitable<Ended> EventStream::State::exchange(Stream& stream) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "k8sinpodd");
  auto writing = http::async_write(stream, req, kTuple);
  const auto [write_ec, written] = co_await std::move(writing);
  if (write_ec) co_return failed("write request", write_ec);

  beast::flat_buffer buffer(kBufferLimit);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // the stream is endless by design
  auto reading_header = http::async_read_header(stream, buffer, parser, kTuple);
  const auto [header_ec, header_read] = co_await std::move(reading_header);
  if (header_ec) co_return failed("read headers", header_ec);

  std::vector<char> chunk(kReadChunk);
  const unsigned status = parser.get().result_int();
  if (status != 200) {
    // Docker explains a refusal in a small JSON body: read some of it, still under the deadline.
    std::string body;
    while (!parser.is_done() && body.size() < kErrorBodyLimit) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      auto reading = http::async_read_some(stream, buffer, parser, kTuple);
      const auto [ec, n] = co_await std::move(reading);
      body.append(chunk.data(), chunk.size() - parser.get().body().size);
      if (ec && ec != http::error::need_buffer) break;
    }
    co_return Ended{false, prefix + std::to_string(status) + " " + error_text(body)};
  }

  stream.expires_never();
  report(true, "");
  if (stopped) co_return Ended{true, ""};

  EventSplitter splitter;
  for (;;) {
    if (parser.is_done()) co_return Ended{true, prefix + "dockerd ended the event stream"};
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto reading = http::async_read_some(stream, buffer, parser, kTuple);
    const auto [ec, n] = co_await std::move(reading);
    if (stopped) co_return Ended{true, ""};
    const std::size_t got = chunk.size() - parser.get().body().size;
    splitter.feed(std::string_view(chunk.data(), got));
    if (!deliver(splitter)) co_return Ended{true, ""};
    if (ec && ec != http::error::need_buffer) co_return Ended{true, failed("read events", ec).why};
  }
}

EventStream::EventStream(asio::any_io_executor executor, Endpoint endpoint, Callbacks callbacks,
                         Backoff backoff, std::chrono::milliseconds connect_timeout)
    : state_(std::make_shared<State>(std::move(executor), std::move(endpoint), std::move(callbacks),
                                     backoff, connect_timeout)) {}

EventStream::~EventStream() { stop(); }

void EventStream::start() {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  asio::co_spawn(state_->executor, State::run(state_), ReportEscaped{"docker event stream"});
}

void EventStream::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->connected = false;
  state_->cancel_io();
}

bool EventStream::connected() const { return state_->connected; }

std::uint64_t EventStream::reconnects() const { return state_->reconnects; }

}  // namespace k8sinpod::docker
