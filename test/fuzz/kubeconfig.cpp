// Fuzz target `kubeconfig`: the pure kubeconfig reads and edits on arbitrary text. Input: a
// kubeconfig as `kind get kubeconfig` prints it; the cluster entry edited is `kind-ci`.
#include "kubeconfig/kubeconfig.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz.hpp"

using namespace k8sinpod;
using fuzz::require;

namespace {

constexpr std::string_view kEntry = "kind-ci";
// The daemon writes `https://<IPv4>:6443`; the IPv6 form puts YAML flow indicators (`[`, `]`)
// into the value, which the emitter must quote or keep plain correctly.
constexpr std::string_view kServers[] = {"https://172.18.0.2:6443",
                                         "https://[fc00:f853:ccd:e793::2]:6443"};

void fuzz_set_server(std::string_view text) {
  const auto before = kubeconfig::read_credentials(text, kEntry);
  for (const std::string_view url : kServers) {
    const auto patched = kubeconfig::set_server(text, kEntry, url);
    if (!patched) continue;
    require(!patched->empty() && patched->back() == '\n', "set_server: ends with a newline");
    const auto server = kubeconfig::server_of(*patched, kEntry);
    require(server.has_value() && *server == url, "set_server: server_of reads the new server");
    // The daemon reads the client credentials from the patched file (app.cpp): the edit must
    // keep them, whatever else the file holds.
    const auto after = kubeconfig::read_credentials(*patched, kEntry);
    if (before) {
      require(after.has_value(), "set_server: credentials still readable after the edit");
      require(after->ca_pem == before->ca_pem &&
                  after->client_cert_pem == before->client_cert_pem &&
                  after->client_key_pem == before->client_key_pem,
              "set_server: credentials unchanged by the edit");
      require(after->server == url || after->server == before->server,
              "set_server: the context's server is the new one or untouched");
    }
  }
  static_cast<void>(kubeconfig::server_of(text, kEntry));
  static_cast<void>(kubeconfig::read_credentials(text, ""));
}

void fuzz_base64(std::string_view text) {
  const auto decoded = kubeconfig::decode_base64(text);
  if (!decoded) return;
  std::size_t symbols = 0;
  std::size_t padding = 0;
  for (const char c : text) {
    if (c == '\r' || c == '\n') continue;
    ++symbols;
    padding = c == '=' ? padding + 1 : 0;
  }
  require(symbols % 4 == 0 && padding <= 2, "decode_base64: whole quanta, at most 2 '='");
  require(decoded->size() == symbols / 4 * 3 - padding, "decode_base64: 3 bytes per quantum");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  fuzz_set_server(text);
  fuzz_base64(text);
  return 0;
}
