#include "kubeconfig/kubeconfig.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

using namespace k8sinpod::kubeconfig;

namespace {

// Decoded payloads; the fixtures hold their base64 (the key's ends in "==" padding).
constexpr std::string_view kCaPem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwprdWJlcm5l\n"
    "dGVzMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAwMFow\n"
    "-----END CERTIFICATE-----\n";
constexpr std::string_view kCertPem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkTCCATegAwIBAgIIQ2xpZW50Q2VydDAKBggqhkjOPQQDAjAVMRMwEQYDVQQD\n"
    "EwprdWJlcm5ldGVzMB4XDTI0\n"
    "-----END CERTIFICATE-----\n";
constexpr std::string_view kKeyPem =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIFRlc3RLZXlEYXRhTm90QVJlYWxLZXlKdXN0Rm9yVGVzdHOgCgYIKoZI\n"
    "zj0DAQehRANCAAQ=\n"
    "-----END EC PRIVATE KEY-----\n";

constexpr std::string_view kKeyBase64 =
    "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUZSbGMzUkxaWGxFWVhSaFRtOTBRVkpsWVd4TFpY"
    "bEtkWE4wUm05eVZHVnpkSE9nQ2dZSUtvWkkKemowREFRZWhSQU5DQUFRPQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0t"
    "LS0tCg==";

/// What `kind get kubeconfig --name ci` prints (payloads shortened).
const std::string kind_kubeconfig = std::string(R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQVZNUk13RVFZRFZRUURFd3ByZFdKbGNtNWwKZEdWek1CNFhEVEkwTURFd01UQXdNREF3TUZvWERUTTBNREV3TVRBd01EQXdNRm93Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    server: https://127.0.0.1:41235
  name: kind-ci
contexts:
- context:
    cluster: kind-ci
    user: kind-ci
  name: kind-ci
current-context: kind-ci
kind: Config
preferences: {}
users:
- name: kind-ci
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENDQVRlZ0F3SUJBZ0lJUTJ4cFpXNTBRMlZ5ZERBS0JnZ3Foa2pPUFFRREFqQVZNUk13RVFZRFZRUUQKRXdwcmRXSmxjbTVsZEdWek1CNFhEVEkwCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: )") + std::string(kKeyBase64) +
                                    "\n";

/// A merged file: two clusters, quoted scalars that read as other types, unknown fields,
/// a null, a flow list, a literal block.
const std::string merged_kubeconfig = R"(apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: "https://10.0.0.1:6443"
    insecure-skip-tls-verify: true
- cluster:
    certificate-authority-data: Zm9v
    server: https://127.0.0.1:41235
    tls-server-name: "true"
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {provider: kind, ports: [6443, "6444"]}
  name: kind-ci
contexts:
- context: {cluster: kind-ci, user: kind-ci, namespace: "007"}
  name: kind-ci
current-context: other
preferences: {}
users:
- name: kind-ci
  user:
    client-certificate-data: YmFy
    client-key-data: YmF6
    username: ~
notes: |
  line one
  line two
)";

/// Deep equality of two node trees: kinds, tags (so quoting), scalars, key order.
bool same(const YAML::Node& a, const YAML::Node& b) {
  if (a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return true;
    case YAML::NodeType::Scalar:
      return a.Scalar() == b.Scalar() && a.Tag() == b.Tag();
    case YAML::NodeType::Sequence: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) return false;
      }
      return true;
    }
    case YAML::NodeType::Map: {
      if (a.size() != b.size()) return false;
      auto ia = a.begin();
      auto ib = b.begin();
      for (; ia != a.end(); ++ia, ++ib) {
        if (!same(ia->first, ib->first) || !same(ia->second, ib->second)) return false;
      }
      return true;
    }
  }
  return false;
}

/// The cluster map of entry `name` in a parsed tree.
YAML::Node cluster_of(YAML::Node root, std::string_view name) {
  for (YAML::Node entry : root["clusters"]) {
    if (entry["name"].Scalar() == name) return entry["cluster"];
  }
  FAIL("no cluster " << name);
  return {};
}

/// The error message of `result`; fails the test when it holds a value.
template <class T>
std::string error_of(const k8sinpod::Result<T>& result) {
  REQUIRE_FALSE(result.has_value());
  return result.error().message;
}

}  // namespace

TEST_CASE("set_server changes only the server of the named entry") {
  for (const std::string* fixture : {&kind_kubeconfig, &merged_kubeconfig}) {
    CAPTURE(*fixture);
    const auto edited = set_server(*fixture, "kind-ci", "https://172.18.0.2:6443");
    REQUIRE(edited.has_value());
    CHECK(edited->ends_with("\n"));

    // Expected tree: the input with that one scalar replaced, everything else as parsed.
    YAML::Node expected = YAML::Load(*fixture);
    YAML::Node cluster = cluster_of(expected, "kind-ci");
    CHECK(cluster["server"].Scalar() == "https://127.0.0.1:41235");
    cluster["server"] = "https://172.18.0.2:6443";

    const YAML::Node actual = YAML::Load(*edited);
    CHECK(same(actual, expected));
    CHECK_FALSE(same(actual, YAML::Load(*fixture)));
  }
}

TEST_CASE("set_server keeps quoted scalars strings and the other cluster untouched") {
  const auto edited = set_server(merged_kubeconfig, "kind-ci", "https://172.18.0.2:6443");
  REQUIRE(edited.has_value());
  const YAML::Node root = YAML::Load(*edited);
  CHECK(root["clusters"][0]["cluster"]["server"].Scalar() == "https://10.0.0.1:6443");
  CHECK(root["clusters"][1]["cluster"]["tls-server-name"].Tag() == "!");
  CHECK(root["contexts"][0]["context"]["namespace"].Scalar() == "007");
  CHECK(root["contexts"][0]["context"]["namespace"].Tag() == "!");
  CHECK(root["notes"].Scalar() == "line one\nline two\n");
  CHECK(root["users"][0]["user"]["username"].IsNull());
  CHECK(root["preferences"].IsMap());
  CHECK(root["preferences"].size() == 0);
  CHECK(edited->find("tls-server-name: \"true\"") != std::string::npos);
}

TEST_CASE("set_server adds a missing server key") {
  const std::string yaml = "clusters:\n- name: kind-ci\n  cluster:\n    insecure: true\n";
  const auto edited = set_server(yaml, "kind-ci", "https://h:1");
  REQUIRE(edited.has_value());
  const auto server = server_of(*edited, "kind-ci");
  REQUIRE(server.has_value());
  CHECK(*server == "https://h:1");
  CHECK(YAML::Load(*edited)["clusters"][0]["cluster"]["insecure"].Scalar() == "true");
}

TEST_CASE("server_of reads the server of the named entry") {
  const auto server = server_of(kind_kubeconfig, "kind-ci");
  REQUIRE(server.has_value());
  CHECK(*server == "https://127.0.0.1:41235");
  const auto other = server_of(merged_kubeconfig, "other");
  REQUIRE(other.has_value());
  CHECK(*other == "https://10.0.0.1:6443");
}

TEST_CASE("set_server and server_of report what is missing") {
  struct Row {
    std::string_view yaml;
    std::string_view expected;
  };
  const Row rows[] = {
      {"clusters: [a\n",
       "kubeconfig: not valid YAML: line 2, column 1: end of sequence flow "
       "not found"},
      {"", "kubeconfig: the top level is not a map"},
      {"- a\n", "kubeconfig: the top level is not a map"},
      {"apiVersion: v1\n", "kubeconfig: no \"clusters\" list"},
      {"clusters: ~\n", "kubeconfig: no \"clusters\" list"},
      {"clusters: {}\n", "kubeconfig: \"clusters\" is not a list"},
      {"clusters: [a]\n", "kubeconfig: clusters[0] is not a map"},
      {"clusters: []\n", "kubeconfig: no cluster entry \"kind-ci\" (there are none)"},
      {"clusters:\n- name: kind-a\n  cluster: {}\n- name: kind-b\n  cluster: {}\n",
       "kubeconfig: no cluster entry \"kind-ci\" (have \"kind-a\", \"kind-b\")"},
      {"clusters:\n- name: kind-ci\n",
       "kubeconfig: cluster entry \"kind-ci\" has no \"cluster\" map"},
      {"clusters:\n- name: kind-ci\n  cluster: x\n",
       "kubeconfig: cluster entry \"kind-ci\" has no \"cluster\" map"},
      {"clusters:\n- name: kind-ci\n  cluster: {}\n- name: kind-ci\n  cluster: {}\n",
       "kubeconfig: cluster entry \"kind-ci\" appears 2 times"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.yaml);
    CHECK(error_of(set_server(row.yaml, "kind-ci", "https://h:1")) == row.expected);
    CHECK(error_of(server_of(row.yaml, "kind-ci")) == row.expected);
  }
  CHECK(error_of(server_of("clusters:\n- name: kind-ci\n  cluster: {}\n", "kind-ci")) ==
        "kubeconfig: cluster \"kind-ci\" has no \"server\"");
  CHECK(error_of(server_of("clusters:\n- name: kind-ci\n  cluster: {server: [a]}\n", "kind-ci")) ==
        "kubeconfig: cluster \"kind-ci\": \"server\" is not a string");
}

TEST_CASE("read_credentials decodes the current context's certificates exactly") {
  const auto credentials = read_credentials(kind_kubeconfig, "");
  REQUIRE(credentials.has_value());
  CHECK(credentials->server == "https://127.0.0.1:41235");
  CHECK(credentials->ca_pem == kCaPem);
  CHECK(credentials->client_cert_pem == kCertPem);
  CHECK(credentials->client_key_pem == kKeyPem);

  const auto named = read_credentials(kind_kubeconfig, "kind-ci");
  REQUIRE(named.has_value());
  CHECK(*named == *credentials);
}

TEST_CASE("read_credentials follows the named context, not current-context") {
  const auto credentials =
      read_credentials(merged_kubeconfig, "kind-ci");  // current-context is "other"
  REQUIRE(credentials.has_value());
  CHECK(credentials->server == "https://127.0.0.1:41235");
  CHECK(credentials->ca_pem == "foo");
  CHECK(credentials->client_cert_pem == "bar");
  CHECK(credentials->client_key_pem == "baz");
}

TEST_CASE("read_credentials reports what is missing or malformed") {
  const std::string context = "contexts:\n- name: c\n  context: {cluster: k, user: u}\n";
  const std::string cluster_ok =
      "clusters:\n- name: k\n  cluster: {server: 'https://h:1', certificate-authority-data: "
      "Zm9v}\n";
  const std::string user_ok =
      "users:\n- name: u\n  user: {client-certificate-data: YmFy, client-key-data: YmF6}\n";
  REQUIRE(read_credentials(context + cluster_ok + user_ok, "c").has_value());

  struct Row {
    std::string yaml;
    std::string_view context;
    std::string_view expected;
  };
  const Row rows[] = {
      {"a: [\n", "",
       "kubeconfig: not valid YAML: line 2, column 1: end of sequence flow not found"},
      {context + cluster_ok + user_ok, "",
       "kubeconfig: no context given and no \"current-context\""},
      {context + cluster_ok + user_ok, "nope",
       "kubeconfig: no context entry \"nope\" (have \"c\")"},
      {cluster_ok + user_ok, "c", "kubeconfig: no \"contexts\" list"},
      {"contexts:\n- name: c\n  context: {user: u}\n" + cluster_ok + user_ok, "c",
       "kubeconfig: context \"c\" has no \"cluster\""},
      {"contexts:\n- name: c\n  context: {cluster: k}\n" + cluster_ok + user_ok, "c",
       "kubeconfig: context \"c\" has no \"user\""},
      {context + user_ok, "c", "kubeconfig: no \"clusters\" list"},
      {context + cluster_ok, "c", "kubeconfig: no \"users\" list"},
      {context + "clusters:\n- name: k\n  cluster: {certificate-authority-data: Zm9v}\n" + user_ok,
       "c", "kubeconfig: cluster \"k\" has no \"server\""},
      {context + "clusters:\n- name: k\n  cluster: {server: 'https://h:1'}\n" + user_ok, "c",
       "kubeconfig: cluster \"k\" has no \"certificate-authority-data\""},
      {context +
           "clusters:\n- name: k\n  cluster: {server: 'https://h:1', certificate-authority: "
           "/ca.crt}\n" +
           user_ok,
       "c",
       "kubeconfig: cluster \"k\": \"certificate-authority\" (a file path) is not supported; "
       "inline it as \"certificate-authority-data\""},
      {context + cluster_ok +
           "users:\n- name: u\n  user: {client-certificate: /c, client-key: /k}\n",
       "c",
       "kubeconfig: user \"u\": \"client-certificate\" (a file path) is not supported; inline it "
       "as \"client-certificate-data\""},
      {context + cluster_ok +
           "users:\n- name: u\n  user: {client-certificate-data: YmFy, "
           "client-key: /k}\n",
       "c",
       "kubeconfig: user \"u\": \"client-key\" (a file path) is not supported; inline it as "
       "\"client-key-data\""},
      {context + cluster_ok + "users:\n- name: u\n  user: {token: abc}\n", "c",
       "kubeconfig: user \"u\" has no \"client-certificate-data\""},
      {context + cluster_ok +
           "users:\n- name: u\n  user: {client-certificate-data: YmFy, "
           "client-key-data: ''}\n",
       "c", "kubeconfig: user \"u\": \"client-key-data\" is empty"},
      {context + cluster_ok +
           "users:\n- name: u\n  user: {client-certificate-data: YmFy, "
           "client-key-data: [a]}\n",
       "c", "kubeconfig: user \"u\": \"client-key-data\" is not a string"},
      {context + cluster_ok +
           "users:\n- name: u\n  user: {client-certificate-data: YmFy, "
           "client-key-data: c2VjcmV0!2tleQ==}\n",
       "c",
       "kubeconfig: user \"u\": client-key-data: invalid base64: character at offset 8 is not in "
       "the alphabet"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.yaml);
    CHECK(error_of(read_credentials(row.yaml, row.context)) == row.expected);
  }
}

TEST_CASE("read_credentials never puts key material in an error") {
  // A key whose base64 is broken near its end: the message must not echo any of it.
  std::string broken(kKeyBase64);
  broken[broken.size() - 3] = '*';
  const std::string yaml =
      "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
      "clusters:\n- name: k\n  cluster: {server: 'https://h:1', "
      "certificate-authority-data: Zm9v}\n"
      "users:\n- name: u\n  user:\n    client-certificate-data: YmFy\n"
      "    client-key-data: " +
      broken + "\n";
  const std::string message = error_of(read_credentials(yaml, "c"));
  CHECK(message.find("offset " + std::to_string(broken.size() - 3)) != std::string::npos);
  CHECK(message.find(broken.substr(0, 8)) == std::string::npos);
  CHECK(message.find("PRIVATE") == std::string::npos);
}

TEST_CASE("decode_base64 decodes standard base64 and skips line breaks") {
  struct Row {
    std::string_view text;
    std::string_view expected;
  };
  const Row rows[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYmFy", "foobar"},
      {"Zm9v\nYmFy\r\n", "foobar"},
      {"AP8A/w==", std::string_view("\x00\xff\x00\xff", 4)},
      {"+/+/", "\xfb\xff\xbf"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    const auto decoded = decode_base64(row.text);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == row.expected);
  }
}

TEST_CASE("decode_base64 rejects malformed input with the offset") {
  struct Row {
    std::string_view text;
    std::string_view expected;
  };
  const Row rows[] = {
      {"Zg=", "invalid base64: length 3 is not a multiple of 4"},
      {"Zm9vY", "invalid base64: length 5 is not a multiple of 4"},
      {"Zm9v YmFy", "invalid base64: length 9 is not a multiple of 4"},
      {"Zm9v!mFy", "invalid base64: character at offset 4 is not in the alphabet"},
      {"Zm9v-_Fy", "invalid base64: character at offset 4 is not in the alphabet"},  // URL form
      {"Z===", "invalid base64: padding at offset 1"},
      {"Zg==Zm9v", "invalid base64: padding at offset 2"},
      {"Zg=v", "invalid base64: data after padding at offset 3"},
      {"====", "invalid base64: padding at offset 0"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CHECK(error_of(decode_base64(row.text)) == row.expected);
  }
}
