// fake-apiserver: the stand-in kube-apiserver of the fake kind node image (docs/testing.md,
// "The test world"). It is PID 1 of the node container.
//
//   fake-apiserver                serve TLS on :6443 (the image's entrypoint)
//   fake-apiserver idle           do nothing until stopped (worker nodes, IP placeholders)
//   fake-apiserver set-mode MODE  switch the running server: healthy | fail | hang | refuse
//   fake-apiserver get-mode       print the mode the server currently obeys
//
// Environment (all optional):
//   FAKE_APISERVER_PKI_DIR   CA and serving cert directory   (default /etc/kubernetes/pki)
//   FAKE_APISERVER_RUN_DIR   where the mode file lives        (default /run/fake-apiserver)
//   FAKE_APISERVER_PORT      listening port                   (default 6443)
//   FAKE_APISERVER_MODE      mode used while no mode file exists (default healthy)
//   FAKE_NODE_LEGACY=1       keep the serving cert of the first start (pre-v0.15 kind images)
//
// Exit codes: 0 after SIGTERM/SIGINT, 130 after SIGRTMIN+3 (the image's STOPSIGNAL, as for a kind
// node), 1 on a startup error.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

// GCC 12 at -O2 reports -Wnull-dereference inside Asio's own scheduler and any_executor
// (false positives: the pointers come from the thread's call stack); the warning stays on for ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#pragma GCC diagnostic pop
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kModePoll = std::chrono::milliseconds(100);
constexpr int kExitStopSignal = 130;

// ---- configuration -------------------------------------------------------------------------

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

struct Options {
  fs::path pki_dir = env_or("FAKE_APISERVER_PKI_DIR", "/etc/kubernetes/pki");
  fs::path run_dir = env_or("FAKE_APISERVER_RUN_DIR", "/run/fake-apiserver");
  std::string default_mode = env_or("FAKE_APISERVER_MODE", "healthy");
  bool legacy = env_or("FAKE_NODE_LEGACY", "0") == "1";
  unsigned short port =
      static_cast<unsigned short>(std::stoul(env_or("FAKE_APISERVER_PORT", "6443")));

  fs::path mode_file() const { return run_dir / "mode"; }
};

void log(const std::string& line) { std::cerr << "fake-apiserver: " << line << std::endl; }

// ---- modes ---------------------------------------------------------------------------------

enum class Mode { healthy, fail, hang, refuse };

std::optional<Mode> parse_mode(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (text == "healthy") {
    return Mode::healthy;
  }
  if (text == "fail") {
    return Mode::fail;
  }
  if (text == "hang") {
    return Mode::hang;
  }
  if (text == "refuse") {
    return Mode::refuse;
  }
  return std::nullopt;
}

// The mode file wins; without one, FAKE_APISERVER_MODE; an unreadable or bad value is healthy.
Mode current_mode(const Options& opts) {
  std::ifstream in(opts.mode_file());
  std::string text;
  if (in) {
    std::getline(in, text);
  } else {
    text = opts.default_mode;
  }
  return parse_mode(text).value_or(Mode::healthy);
}

std::string mode_name(Mode mode) {
  switch (mode) {
    case Mode::healthy:
      return "healthy";
    case Mode::fail:
      return "fail";
    case Mode::hang:
      return "hang";
    case Mode::refuse:
      return "refuse";
  }
  return "healthy";
}

// ---- routes (pure) -------------------------------------------------------------------------

struct Reply {
  http::status status;
  std::string content_type;
  std::string body;
};

const std::vector<std::string>& checks_for(std::string_view endpoint) {
  static const std::vector<std::string> livez_checks = {
      "ping",
      "log",
      "etcd",
      "poststarthook/start-apiserver-admission-initializer",
      "poststarthook/generic-apiserver-start-informers",
      "poststarthook/bootstrap-controller",
      "poststarthook/rbac/bootstrap-roles"};
  static const std::vector<std::string> readyz_checks = {
      "ping",
      "log",
      "etcd",
      "etcd-readiness",
      "informer-sync",
      "poststarthook/start-apiserver-admission-initializer",
      "poststarthook/generic-apiserver-start-informers",
      "poststarthook/bootstrap-controller",
      "poststarthook/rbac/bootstrap-roles",
      "shutdown"};
  return endpoint == "readyz" ? readyz_checks : livez_checks;
}

// Bodies as k8s.io/apiserver/pkg/server/healthz writes them: plain "ok", or one line per check
// then "<name> check passed"; a failure is always verbose and ends "<name> check failed".
Reply health(std::string_view endpoint, bool verbose, Mode mode) {
  const bool failing = mode == Mode::fail;
  std::string lines;
  for (const auto& check : checks_for(endpoint)) {
    if (failing && (check == "etcd" || check == "etcd-readiness")) {
      lines += "[-]" + check + " failed: reason withheld\n";
    } else {
      lines += "[+]" + check + " ok\n";
    }
  }
  const std::string text_plain = "text/plain; charset=utf-8";
  const std::string name(endpoint);
  if (failing) {
    return {http::status::internal_server_error, text_plain, lines + name + " check failed\n"};
  }
  if (verbose) {
    return {http::status::ok, text_plain, lines + name + " check passed\n"};
  }
  return {http::status::ok, text_plain, "ok"};
}

Reply route(http::verb method, std::string_view target, Mode mode) {
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
  bool verbose = false;  // as url.Query()["verbose"]: the key alone, "verbose=" or "verbose=x"
  while (!query.empty()) {
    const std::string_view param = query.substr(0, query.find('&'));
    if (param.substr(0, param.find('=')) == "verbose") {
      verbose = true;
    }
    query.remove_prefix(std::min(query.size(), param.size() + 1));
  }
  if (method == http::verb::get || method == http::verb::head) {
    if (path == "/readyz" || path == "/livez" || path == "/healthz") {
      return health(path.substr(1), verbose, mode);
    }
    if (path == "/version") {
      return {http::status::ok, "application/json",
              "{\n  \"major\": \"1\",\n  \"minor\": \"31\",\n  \"gitVersion\": \"v1.31.0\",\n"
              "  \"gitCommit\": \"9edcffcde5595e8a5b1a35f88c421764e575afce\",\n"
              "  \"gitTreeState\": \"clean\",\n  \"buildDate\": \"2024-08-13T07:28:49Z\",\n"
              "  \"goVersion\": \"go1.22.5\",\n  \"compiler\": \"gc\",\n"
              "  \"platform\": \"linux/amd64\"\n}"};
    }
  }
  return {http::status::not_found, "application/json",
          "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
          "\"message\":\"the server could not find the requested resource\",\"reason\":"
          "\"NotFound\",\"details\":{},\"code\":404}\n"};
}

// ---- serving certificate -------------------------------------------------------------------

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

std::string hostname() {
  std::vector<char> buf(256, '\0');
  if (gethostname(buf.data(), buf.size() - 1) != 0) {
    return "localhost";
  }
  return buf.data();
}

// Every IPv4 address of the container except loopback, as at this start.
std::vector<std::string> current_ipv4_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return out;
  }
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    std::vector<char> text(INET_ADDRSTRLEN, '\0');
    if (inet_ntop(AF_INET, &sin->sin_addr, text.data(), INET_ADDRSTRLEN) == nullptr) {
      continue;
    }
    std::string address(text.data());
    if (!address.starts_with("127.")) {
      out.push_back(address);
    }
  }
  freeifaddrs(list);
  return out;
}

// kubeadm's apiserver SANs for a single control plane.
std::string subject_alt_names(const std::string& node, const std::vector<std::string>& ips) {
  std::string sans = "DNS:" + node;
  for (const char* dns : {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local", "localhost"}) {
    sans += std::string(",DNS:") + dns;
  }
  sans += ",IP:10.96.0.1";
  for (const auto& ip : ips) {
    sans += ",IP:" + ip;
  }
  sans += ",IP:127.0.0.1";
  return sans;
}

[[noreturn]] void fail(const std::string& what) {
  log(what);
  std::exit(1);
}

X509Ptr read_cert(const fs::path& path) {
  BioPtr bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) {
    fail("read " + path.string() + ": cannot open");
  }
  X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  if (!cert) {
    fail("read " + path.string() + ": not a PEM certificate");
  }
  return cert;
}

PkeyPtr read_key(const fs::path& path) {
  BioPtr bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) {
    fail("read " + path.string() + ": cannot open");
  }
  PkeyPtr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
  if (!key) {
    fail("read " + path.string() + ": not a PEM private key");
  }
  return key;
}

void add_ext(X509* cert, X509* ca, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, cert, nullptr, nullptr, 0);
  ExtPtr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    fail("certificate extension: " + value);
  }
}

// Written to a temporary file and renamed, so a crash never leaves half a PEM behind.
template <class WriteFn>
void write_pem(const fs::path& path, mode_t mode, WriteFn write) {
  const fs::path tmp = path.string() + ".tmp";
  {
    BioPtr bio{BIO_new_file(tmp.c_str(), "w")};
    if (!bio || write(bio.get()) != 1) {
      fail("write " + tmp.string());
    }
  }
  chmod(tmp.c_str(), mode);
  fs::rename(tmp, path);
}

void issue_serving_cert(const Options& opts) {
  const fs::path crt = opts.pki_dir / "apiserver.crt";
  const fs::path key_path = opts.pki_dir / "apiserver.key";
  if (opts.legacy && fs::exists(crt) && fs::exists(key_path)) {
    log("legacy node: keeping the serving certificate of the first start");
    return;
  }
  X509Ptr ca = read_cert(opts.pki_dir / "ca.crt");
  PkeyPtr ca_key = read_key(opts.pki_dir / "ca.key");

  PkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  X509Ptr cert{X509_new()};
  if (!key || !cert) {
    fail("certificate: out of memory");
  }
  X509_set_version(cert.get(), 2);
  BnPtr serial{BN_new()};
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kube-apiserver"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));

  const std::vector<std::string> ips = current_ipv4_addresses();
  const std::string sans = subject_alt_names(hostname(), ips);
  add_ext(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  add_ext(cert.get(), ca.get(), NID_subject_alt_name, sans);
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    fail("certificate: signing failed");
  }

  write_pem(key_path, 0600, [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  write_pem(crt, 0644, [&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });
  log("issued serving certificate with SANs " + sans);
}

// ---- server --------------------------------------------------------------------------------

asio::awaitable<void> session(tcp::socket socket, ssl::context& tls, const Options& opts) {
  beast::ssl_stream<beast::tcp_stream> stream{std::move(socket), tls};
  stream.next_layer().expires_after(std::chrono::seconds(30));
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::server, kUseTuple);
  if (handshake_ec) {  // includes clients without a certificate signed by the CA
    co_return;
  }
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.next_layer().expires_after(std::chrono::minutes(5));
    auto [read_ec, read_n] = co_await http::async_read(stream, buffer, req, kUseTuple);
    if (read_ec) {
      co_return;
    }
    const Mode mode = current_mode(opts);
    if (mode == Mode::refuse) {  // a refusing server keeps no connections either
      co_return;
    }
    if (mode == Mode::hang) {
      stream.next_layer().expires_never();
      asio::steady_timer forever(co_await asio::this_coro::executor,
                                 asio::steady_timer::time_point::max());
      co_await forever.async_wait(kUseTuple);
      co_return;
    }
    const Reply reply = route(req.method(), req.target(), mode);
    http::response<http::string_body> res{reply.status, req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(req.keep_alive());
    res.body() = reply.body;
    res.prepare_payload();
    auto [write_ec, write_n] = co_await http::async_write(stream, res, kUseTuple);
    if (write_ec || !res.keep_alive()) {
      break;
    }
  }
  stream.next_layer().expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(kUseTuple);
}

// Completion handler for co_spawn: a coroutine that dies says so.
auto log_exception(std::string what) {
  return [what](const std::exception_ptr& error) {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log(what + ": " + e.what());
    }
  };
}

// Owns the listening socket: open while the mode is not `refuse`, closed (connections refused)
// while it is. The mode file is polled, so a change takes effect within kModePoll.
class Listener {
 public:
  Listener(asio::io_context& ioc, ssl::context& tls, const Options& opts)
      : ioc_(ioc), tls_(tls), opts_(opts), acceptor_(ioc) {}

  boost::system::error_code open() {
    boost::system::error_code ec;
    const tcp::endpoint endpoint{tcp::v4(), opts_.port};
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) {
      return ec;
    }
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor_.bind(endpoint, ec);
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return ec;
    }
    ++generation_;
    asio::co_spawn(ioc_, accept_loop(generation_), log_exception("accept loop"));
    return {};
  }

  asio::awaitable<void> watch_mode() {
    asio::steady_timer timer(ioc_);
    for (;;) {
      timer.expires_after(kModePoll);
      co_await timer.async_wait(kUseTuple);
      const bool refuse = current_mode(opts_) == Mode::refuse;
      if (refuse && acceptor_.is_open()) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        log("mode refuse: listening socket closed");
      } else if (!refuse && !acceptor_.is_open()) {
        if (auto ec = open()) {
          log("reopen :" + std::to_string(opts_.port) + ": " + ec.message());
        } else {
          log("listening again on :" + std::to_string(opts_.port));
        }
      }
    }
  }

 private:
  asio::awaitable<void> accept_loop(unsigned generation) {
    asio::steady_timer backoff(ioc_);
    while (generation == generation_ && acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
      if (generation != generation_ || !acceptor_.is_open()) {
        co_return;
      }
      if (ec) {  // e.g. EMFILE: do not spin
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      asio::co_spawn(ioc_, session(std::move(socket), tls_, opts_), log_exception("session"));
    }
  }

  asio::io_context& ioc_;
  ssl::context& tls_;
  const Options& opts_;
  tcp::acceptor acceptor_;
  unsigned generation_ = 0;
};

// Runs until a stop signal; returns the exit code that signal maps to.
int run_until_stopped(asio::io_context& ioc) {
  int exit_code = 0;
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.add(SIGRTMIN + 3);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) {
      return;
    }
    exit_code = signo == SIGRTMIN + 3 ? kExitStopSignal : 0;
    log("signal " + std::to_string(signo) + ": exiting " + std::to_string(exit_code));
    ioc.stop();
  });
  ioc.run();
  return exit_code;
}

int serve(const Options& opts) {
  issue_serving_cert(opts);
  ssl::context tls(ssl::context::tls_server);
  try {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls.use_certificate_chain_file((opts.pki_dir / "apiserver.crt").string());
    tls.use_private_key_file((opts.pki_dir / "apiserver.key").string(), ssl::context::pem);
    tls.load_verify_file((opts.pki_dir / "ca.crt").string());
    tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } catch (const boost::system::system_error& e) {
    fail(std::string("tls setup: ") + e.what());
  }
  // Advertise the CA in the CertificateRequest so clients pick the matching client cert.
  SSL_CTX_set_client_CA_list(tls.native_handle(),
                             SSL_load_client_CA_file((opts.pki_dir / "ca.crt").c_str()));

  asio::io_context ioc(1);
  Listener listener(ioc, tls, opts);
  if (current_mode(opts) != Mode::refuse) {
    if (auto ec = listener.open()) {
      fail("listen :" + std::to_string(opts.port) + ": " + ec.message());
    }
    // The wall clock in microseconds: bench/endpoints_load.sh times the daemon's repair from it.
    const auto since_epoch = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    log("listening on :" + std::to_string(opts.port) + " (mode " + mode_name(current_mode(opts)) +
        ") at unix_us " + std::to_string(since_epoch.count()));
  }
  asio::co_spawn(ioc, listener.watch_mode(), log_exception("mode watcher"));
  return run_until_stopped(ioc);
}

int set_mode(const Options& opts, const std::string& text) {
  if (!parse_mode(text)) {
    std::cerr << "fake-apiserver: unknown mode \"" << text << "\" (healthy|fail|hang|refuse)\n";
    return 1;
  }
  std::error_code ec;
  fs::create_directories(opts.run_dir, ec);
  const fs::path tmp = opts.mode_file().string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    if (!out) {
      std::cerr << "fake-apiserver: write " << tmp << " failed\n";
      return 1;
    }
  }
  fs::rename(tmp, opts.mode_file(), ec);
  if (ec) {
    std::cerr << "fake-apiserver: rename " << tmp << ": " << ec.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    const Options opts;
    if (args.empty()) {
      return serve(opts);
    }
    if (args[0] == "idle" && args.size() == 1) {
      asio::io_context ioc(1);
      return run_until_stopped(ioc);
    }
    if (args[0] == "set-mode" && args.size() == 2) {
      return set_mode(opts, args[1]);
    }
    if (args[0] == "get-mode" && args.size() == 1) {
      std::cout << mode_name(current_mode(opts)) << '\n';
      return 0;
    }
  } catch (const std::exception& e) {
    log(e.what());
    return 1;
  }
  std::cerr << "usage: fake-apiserver [idle | set-mode healthy|fail|hang|refuse | get-mode]\n";
  return 1;
}
